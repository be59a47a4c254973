"""Issue 24: at ``COLUMNS=20`` the report cut the best value to "0.5…". A terminal too narrow for
the table's columns now gets the same rows stacked (``label: value`` per space), every value
whole; a wide one keeps the table. No Ray: the database is made through the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_input_faults import _store

from conftest import run_cli


@pytest.fixture
def kept(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _store(url)
    return url


@pytest.mark.parametrize("columns", [20, 30])
def test_a_narrow_terminal_gets_every_value_whole(kept: str, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run_cli("report", "--storage", kept)
    assert code == 0, err
    assert "…" not in out, out
    assert max(len(line) for line in out.splitlines()) <= columns, out
    flat = " ".join(out.split())
    best = "Best accuracy (eval split, selected on): 0.700"
    for whole in (best, "LR=1.0e-3", "s·LR=2.0e-3", "kept/lr_only/r4", "r=4: 2.0e-6–2.0e-2"):
        assert whole in flat, (whole, out)
    assert "┏" not in out  # stacked, not a table folded into slivers


@pytest.mark.parametrize("columns", [45, 120])
def test_a_terminal_wide_enough_for_every_word_keeps_the_table(
    kept: str, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = run_cli("report", "--storage", kept)
    assert code == 0, err
    assert "┏" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= columns, out
    assert any(line.startswith("│ Best accuracy") and line.rstrip().endswith("0.700 │") for line in out.splitlines())


def test_a_stacked_cell_keeps_its_lines_apart() -> None:
    """A cell of several lines ("searches LR" over "α = 2r") reads "searches LR; α = 2r" when stacked,
    not "searches LR α = 2r"."""
    from rich.console import Console
    from rich.table import Table

    from lorasweep.report.table import stacked

    table = Table()
    table.add_column("")
    table.add_column("lr_only")
    table.add_row("Searches", "searches LR\nα = 2r")
    console = Console(width=200, record=True)
    console.print(stacked(table))
    assert "Searches: searches LR; α = 2r" in console.export_text()
