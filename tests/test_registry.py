"""Spaces and tasks as files: list, show, validate; every bad file has its one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lorasweep.config import builtin_names

from conftest import DATA, run_cli

BAD = {kind: DATA / f"bad_{kind}" for kind in ("spaces", "tasks")}
CASES = [
    (kind, name, message)
    for kind, folder in BAD.items()
    for name, message in yaml.safe_load((folder / "expected.yaml").read_text()).items()
]


def test_every_bad_file_has_an_expected_message() -> None:
    for kind, folder in BAD.items():
        files = {p.name for p in folder.glob("*.yaml")} - {"expected.yaml"}
        assert files == {name for k, name, _ in CASES if k == kind}


@pytest.mark.parametrize(("kind", "name", "message"), CASES, ids=[f"{k}/{n}" for k, n, _ in CASES])
def test_validate_names_the_file_the_field_and_the_fix(kind: str, name: str, message: str) -> None:
    path = BAD[kind] / name
    code, out, err = run_cli(kind, "validate", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ")
    assert message in err


@pytest.mark.parametrize("kind", ["spaces", "tasks"])
def test_builtins_list_show_and_validate(kind: str, tmp_path: Path) -> None:
    code, out, _ = run_cli(kind, "list")
    names = builtin_names(kind.removesuffix("s"))
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == names
    for name in names:
        code, shown, err = run_cli(kind, "show", name)
        assert code == 0, err
        copy = tmp_path / f"{name}.yaml"  # what show prints is a valid file of its own
        copy.write_text(shown)
        code, out, err = run_cli(kind, "validate", str(copy))
        hub = kind == "tasks" and (yaml.safe_load(shown).get("data") or {}).get("path", "").count("/") == 1
        if hub:  # a hub dataset: offline (HF_HUB_OFFLINE=1) validation names the hub id and the way out
            assert code == 2 and "cannot load it" in err and "HF_HUB_OFFLINE=1 uses the cache only" in err, err
        else:
            assert code == 0 and out.startswith("ok: "), err


def test_validate_wants_a_file_not_a_builtin_name() -> None:
    code, _, err = run_cli("tasks", "validate", "negated_sentiment")
    assert code == 2 and "no such file" in err
