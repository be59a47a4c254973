from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lorasweep.config import builtin_names, load_experiment, load_space, load_task
from lorasweep.errors import ConfigError

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED = yaml.safe_load((BAD / "expected.yaml").read_text())


def test_every_bad_file_has_an_expected_message() -> None:
    assert set(EXPECTED) == {p.name for p in BAD.glob("*.yaml")} - {"expected.yaml"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_experiment_gives_one_line_naming_file_field_and_fix(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(BAD / name)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(BAD / name))
    assert EXPECTED[name] in message


@pytest.mark.parametrize("name", builtin_names("experiment"))
def test_builtin_experiments_validate(name: str) -> None:
    exp = load_experiment(name)
    if exp.ablation is not None:  # lorasweep ablation's: no search spaces, a minimized loss
        assert exp.spaces == [] and exp.metric.resolved_direction.value == "minimize"
        return
    assert [s.name for s in exp.spaces] == ["lr_only", "lora_alpha"]
    assert exp.metric.resolved_direction.value == "maximize"


def test_an_experiment_without_spaces_or_ablation_is_rejected() -> None:
    with pytest.raises(ConfigError, match="spaces is empty; list at least one space"):
        load_experiment("default", {"spaces": []})


@pytest.mark.parametrize("name", builtin_names("space"))
def test_builtin_spaces_validate(name: str) -> None:
    assert load_space(name).name == name


@pytest.mark.parametrize("name", builtin_names("task"))
def test_builtin_tasks_validate(name: str) -> None:
    assert load_task(name).name == name


def test_overrides_are_validated_like_the_file() -> None:
    assert load_experiment("default", {"budget.trials": 3}).budget.trials == 3
    with pytest.raises(ConfigError, match=r"budget\.trials"):
        load_experiment("default", {"budget.trials": 0})


def test_space_overrides_in_an_experiment(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("task: negated_sentiment\nspaces:\n  - lr_only\n  - {use: lora_alpha, lr: 1.0e-4}\n")
    exp = load_experiment(path)
    assert exp.spaces[1].lr == 1e-4 and exp.spaces[1].name == "lora_alpha"


def test_missing_file_lists_builtin_names() -> None:
    with pytest.raises(ConfigError, match="built-in experiments: ablation, default"):
        load_experiment("nope.yaml")
