"""README's "Extending lorasweep", done: each unit is one new file plus at most its registration,
and lorasweep uses it with no other file changed. (The task kind and the α rule have their own
contract suites over one-file units: ``tests/kind_token_tags.py`` / ``tests/kind_linear_shift.py``
in ``test_kinds.py`` and ``test_token_kind.py``; ``tests/rule_log_rank.py`` in
``test_alpha_rules.py``. This module checks the report chart and the CLI command, and that each
seam's registry refuses a second unit of the same name.)"""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from lorasweep.report import sections as sections_package
from lorasweep.report.section import SECTIONS
from lorasweep.report.table import terminal_report

from conftest import run_cli
from factories import config, summary, trial

CHART = '''
"""The fastest trial of each space: a report chart added as one file."""

from __future__ import annotations

from lorasweep.report.section import Row, Section, register


@register
class Fastest(Section[dict[str, float]]):
    name, title, order = "test_fastest", "Fastest trial", 95

    def compute(self, summary):
        secs = {n: min(t.device_seconds for t in s.trials) for n, s in summary.spaces.items() if s.trials}
        return secs or None

    def rows(self, summary, data):
        return [Row(label="fastest trial", cells={n: [f"{v:.0f} s"] for n, v in data.items()})]

    def json(self, summary, data):
        return {"fastest_trial_seconds": data}
'''


@pytest.fixture
def chart_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second folder of ``lorasweep.report.sections`` holding one new module, as if dropped into
    ``lorasweep/report/sections/``; the package loads its modules again."""
    (tmp_path / "test_fastest.py").write_text(textwrap.dedent(CHART))
    monkeypatch.setattr(sections_package, "__path__", [*sections_package.__path__, str(tmp_path)])
    monkeypatch.setattr(sections_package, "_loaded", False)
    yield tmp_path
    if "test_fastest" in SECTIONS:
        SECTIONS.remove("test_fastest")
    sys.modules.pop("lorasweep.report.sections.test_fastest", None)


def _summary():  # type: ignore[no-untyped-def]
    from lorasweep.store import TrialRecord

    def timed(study: int, value: float, seconds: float) -> TrialRecord:
        import dataclasses

        return dataclasses.replace(trial(study, 4, 8.0, 1e-3, value), device_seconds=seconds)

    return summary(
        config(), {"lr_only": [timed(1, 0.9, 30.0), timed(1, 0.8, 12.0)], "lora_alpha": [timed(2, 0.85, 7.0)]}
    )


def test_a_chart_module_dropped_into_sections_is_in_every_output(chart_folder: Path) -> None:
    from rich.console import Console

    from lorasweep.report.json_report import to_json
    from lorasweep.report.sections import Report

    s = _summary()
    report = Report.build(s)
    part = report.part("test_fastest")
    assert part is not None and part.data == {"lr_only": 12.0, "lora_alpha": 7.0}
    console = Console(width=160, record=True)
    console.print(terminal_report(s, report))
    table = console.export_text()
    assert "fastest trial" in table and "12 s" in table and "7 s" in table
    assert to_json(s, report)["fastest_trial_seconds"] == {"lr_only": 12.0, "lora_alpha": 7.0}


def test_without_the_module_the_chart_is_not_there() -> None:
    from lorasweep.report.sections import Report

    assert Report.build(_summary()).part("test_fastest") is None


def test_a_command_module_registered_by_one_line_runs_through_the_entry_point(tmp_path: Path) -> None:
    from lorasweep.cli.entry import cli
    from lorasweep.store import Storage

    hello = importlib.import_module("cli_hello").hello
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Storage.open(url, create=True) as st:
        st.upgrade()
        st.create_experiment("first", "", {})
    cli.add_command(hello)  # what the COMMANDS loop in lorasweep/cli/entry.py does for a built-in one
    try:
        assert run_cli("hello", "--storage", url, "--times", "2") == (0, "hello first\nhello first\n", "")
        code, out, err = run_cli("hello", "--storage", url, "--times", "0")
        assert (code, out) == (2, "") and err == "error: --times 0: must be 1 or more; give --times 1\n"
        assert "Greet every experiment stored in --storage." in run_cli("--help")[1]
    finally:
        cli.commands.pop("hello", None)


def _commands_defined(path: Path) -> set[str]:
    """Names of the module-level functions of ``path`` decorated with ``@click.command``/``@click.group``."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                call = d.func if isinstance(d, ast.Call) else d
                is_click = isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name)
                if is_click and call.value.id == "click" and call.attr in ("command", "group"):  # type: ignore[union-attr]
                    found.add(node.name)
    return found


def test_every_command_module_is_registered_once() -> None:
    """A command module left out of ``COMMANDS`` would be dead code: each top-level click command of
    ``lorasweep/cli/`` is registered on the ``lorasweep`` group, under its own name."""
    from lorasweep.cli import entry

    package = Path(entry.__file__).parent
    defined = {
        name: path.stem for path in package.glob("*.py") if path.stem != "entry" for name in _commands_defined(path)
    }
    registered = {c.callback.__name__ for c in entry.COMMANDS if c.callback is not None}  # type: ignore[union-attr]
    assert set(defined) == registered
    assert len({c.name for c in entry.COMMANDS}) == len(entry.COMMANDS)
    assert all(isinstance(c, click.Command) for c in entry.COMMANDS)


def test_each_registry_refuses_a_second_unit_of_one_name() -> None:
    from lorasweep.report.section import Section, register

    class Twice(Section[int]):
        name, title, order = "summary", "Again", 1

        def compute(self, summary):  # type: ignore[no-untyped-def]
            return 1

    with pytest.raises(ValueError, match="registered twice"):
        register(Twice)


def test_the_stored_trial_fixture_holds_one_finished_trial_and_its_reports(stored_trial: tuple[str, object]) -> None:
    """conftest's ``stored_trial``: what a test of reading code starts from, without Ray."""
    from lorasweep.store import Storage, TrialState

    url, trial = stored_trial
    assert trial.state == TrialState.COMPLETE and trial.final_value == 0.8 and trial.r == 4  # type: ignore[attr-defined]
    with Storage.open(url, readonly=True) as st:
        exp = st.experiment("stored")
        [study] = st.studies(exp.id)
        curves = st.curves(exp.id, [trial.id])  # type: ignore[attr-defined]
    assert (study.space, study.rank) == ("lr_only", 4)
    assert tuple(curves[trial.id].steps) == (5, 10) and tuple(curves[trial.id].values) == (0.6, 0.8)  # type: ignore[attr-defined]
