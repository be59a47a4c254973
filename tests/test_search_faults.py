"""Trials that diverge or raise end in their own states; the search goes on and records them."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from lorasweep.config import load_experiment
from lorasweep.search.runner import run_compare
from lorasweep.store import Storage, TrialState

from conftest import TINY, run_cli


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    with Storage.open(f"sqlite:///{tmp_path / 'faults.db'}", create=True) as st:
        yield st


def test_exploding_trials_are_diverged_with_their_step_and_fail_in_optuna(storage: Storage) -> None:
    explode = {"name": "explode", "lr": {"low": 2.0, "high": 4.0}, "alpha": {"rule": "fixed", "value": 4096.0}}
    sane = {"use": "lr_only"}
    exp = load_experiment(
        TINY, {"spaces": [explode, sane], "budget.trials": 2, "budget.max_steps": 40, "budget.eval_every": 10}
    )
    record = run_compare(exp, storage, "faults")
    studies = {s.space: s for s in storage.studies(record.id)}
    trials = storage.trials(record.id)
    exploded = [t for t in trials if t.study_id == studies["explode"].id]
    assert len(exploded) == 2
    for t in exploded:
        assert t.state == TrialState.DIVERGED
        assert t.diverged_step is not None and 1 <= t.diverged_step < 40
        assert t.steps == t.diverged_step and t.final_value is None
    assert all(t.state != TrialState.DIVERGED for t in trials if t.study_id == studies["lr_only"].id)
    study = optuna.load_study(study_name="faults/explode/r4", storage=storage.url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2


def test_a_trial_that_raises_is_failed_with_its_message_and_the_search_goes_on(storage: Storage) -> None:
    exp = load_experiment(TINY, {"model.target_modules": ["no_such_module"], "budget.trials": 2, "spaces": ["lr_only"]})
    record = run_compare(exp, storage, "broken")
    trials = storage.trials(record.id)
    assert len(trials) == 2  # the second trial still ran after the first failed
    for t in trials:
        assert t.state == TrialState.FAILED
        assert "model.target_modules ['no_such_module']" in (t.error or "")
    study = optuna.load_study(study_name="broken/lr_only/r4", storage=storage.url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    code, out, _ = run_cli("report", "--storage", storage.url, "--experiment", "broken", "--json")
    assert code == 0 and '"n_failed": 2' in out


def test_trial_command_runs_one_trial_without_ray() -> None:
    code, out, err = run_cli("trial", "--config", str(TINY), "--space", "lr_only", "--params", '{"lr": 0.01}')
    assert code == 0, err
    lines = out.strip().splitlines()
    assert '"lr": 0.01' in lines[0] and '"alpha": 8' in lines[0]
    assert len(lines) == 1 + 2 + 1  # settings, two reports (eval every 10 of 20 steps), outcome
    assert '"end": "complete"' in lines[-1]


def test_spaces_list_and_show() -> None:
    code, out, _ = run_cli("spaces", "list")
    assert code == 0 and "lr_only" in out and "lora_alpha" in out and "searches c" in out
    code, out, _ = run_cli("spaces", "show", "lora_alpha")
    assert code == 0 and "rule: sqrt_rank" in out and "lr: 2.0e-05" in out
