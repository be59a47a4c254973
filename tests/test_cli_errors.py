"""Every class of bad input: exit code 2, one line naming the problem and the fix, no traceback,
and the database exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA, TINY, run_cli, sqlite_dump

pytestmark = pytest.mark.slow  # every test here starts Ray

BAD = DATA / "bad"


def _cases(url: str) -> list[tuple[list[str], str]]:
    return [
        (["compare", "--config", "nope.yaml", "--storage", url], "nope.yaml: no such experiment file"),
        (["compare", "--config", str(BAD / "invalid_yaml.yaml"), "--storage", url], "is not valid YAML"),
        (["compare", "--config", str(BAD / "unknown_key.yaml"), "--storage", url], "did you mean 'budget'?"),
        (["compare", "--config", str(BAD / "zero_rank.yaml"), "--storage", url], "field 'ranks.0'"),
        (
            ["compare", "--config", str(BAD / "unknown_space.yaml"), "--storage", url],
            "built-in spaces: joint, lora_alpha, lora_without_regret, loraplus, lr_only, rank_tied, rslora",
        ),
        (["compare", "--config", str(BAD / "unknown_sampler.yaml"), "--storage", url], "valid samplers: cmaes, gp"),
        (["compare", "--config", str(TINY), "--storage", url, "--trials", "-2"], "--trials must be at least 1, got -2"),
        (["compare", "--config", str(TINY), "--storage", url, "--trials", "abc"], "'abc' is not a valid integer"),
        (["compare", "--config", str(TINY), "--storage", url, "--trials", "2.5"], "'2.5' is not a valid integer"),
        (["compare", "--config", str(TINY), "--storage", url, "--seed", "-1"], "--seed must be at least 0"),
        (["compare", "--config", str(TINY), "--storage", url, "--name", "tiny"], "experiment 'tiny' already exists"),
        (["compare", "--config", str(TINY), "--storage", url, "--name", "bad name!"], "--name 'bad name!': names use"),
        (
            ["compare", "--config", str(TINY), "--storage", "postgresql+psycopg://bob:s3cret@127.0.0.1:1/db"],
            "cannot connect to --storage postgresql+psycopg://bob:***@127.0.0.1:1/db",
        ),
        (["compare", "--config", str(TINY), "--storage", "not-a-url"], "is not a database URL"),
        (
            ["compare", "--config", str(TINY), "--storage", "sqlite:////no/such/folder/x.db"],
            "folder /no/such/folder does not exist",
        ),
        (["report", "--storage", url, "--experiment", "nope"], "no experiment 'nope'"),
        (["report", "--storage", "sqlite:////tmp/lorasweep-no-such.db"], "no such database file"),
        (["spaces", "show", "nope"], "no such space file or built-in space"),
        (
            ["trial", "--config", str(TINY), "--space", "lr_only", "--params", '{"c": 3}'],
            "needs exactly the keys ['lr']",
        ),
        (["compare", "--bogus"], "No such option '--bogus'"),
        (["rank-law", "--config", str(TINY), "--storage", url, "--space", "lr_only"], "does not search alpha"),
        (["rank-law", "--config", str(TINY), "--storage", url, "--ranks", "8"], "give at least two ranks"),
        (["landscape", "--config", str(TINY), "--storage", url, "--space", "lora_alpha"], "does not search both"),
        (["compare", "--config", str(TINY), "--storage", url, "--seeds", "-1"], "--seeds must be at least 0"),
        (
            ["compare", "--config", str(DATA / "bad_setup" / "bad_target_modules.yaml"), "--storage", url],
            "model.target_modules ['no_such_module']: No modules were targeted for adaptation; name modules",
        ),
        (
            ["compare", "--config", str(DATA / "bad_setup" / "batch_over_n_train.yaml"), "--storage", url],
            "training.batch_size (64) exceeds task.n_train (32); lower it",
        ),
    ]


@pytest.mark.parametrize("index", range(len(_cases("sqlite://"))))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(tiny_db: tuple[str, Path], index: int) -> None:
    url, path = tiny_db
    args, expected = _cases(url)[index]
    before = sqlite_dump(path)
    code, out, err = run_cli(*args)
    assert code == 2, (args, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0]
    assert "Traceback" not in err and "s3cret" not in err + out
    assert sqlite_dump(path) == before
