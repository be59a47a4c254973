"""Trials that diverge or raise end in their own states; the search goes on and records them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from ray import cloudpickle

from lorasweep.config import SpaceConfig, load_experiment
from lorasweep.search.plan import Progress, StudyPlan
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, STUDY
from lorasweep.search.ray_adapter.trainable import lorasweep_trainable
from lorasweep.search.runner import run_compare
from lorasweep.search.samplers import make_sampler
from lorasweep.space.resolve import distributions
from lorasweep.store import Storage, TrialKind, TrialState

from conftest import TINY, run_cli


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    with Storage.open(f"sqlite:///{tmp_path / 'faults.db'}", create=True) as st:
        yield st


@pytest.mark.slow
def test_exploding_trials_are_diverged_with_their_step_and_fail_in_optuna(storage: Storage) -> None:
    # LR 1e29..1e30: step 1's AdamW update moves every weight by ~LR, so step 2 overflows on every CPU
    # (a merely large LR diverges or not depending on rounding: see lorasweep/train/divergence.py)
    explode = {"name": "explode", "lr": {"low": 1e29, "high": 1e30}, "alpha": {"rule": "fixed", "value": 4096.0}}
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
        assert t.diverged_step == 2
        assert t.steps == t.diverged_step and t.final_value is None
    assert all(t.state != TrialState.DIVERGED for t in trials if t.study_id == studies["lr_only"].id)
    study = optuna.load_study(study_name="faults/explode/r4", storage=storage.url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2


def _scripted(config: dict[str, Any], kwargs: dict[str, Any], value: float) -> None:
    """The real Ray adapter and store, but the trial reports ``value`` at every evaluation
    instead of training."""
    import math

    import lorasweep.search.ray_adapter.trainable as adapter
    from lorasweep.train.train import StepReport, TrialEnd, TrialOutcome

    def run_trial(exp, lora, seed, report, workload=None, checkpoint=None, device_choice=None):  # type: ignore[no-untyped-def]
        steps = range(exp.budget.eval_every, exp.budget.max_steps + 1, exp.budget.eval_every)
        reports = []
        for step in steps:
            end = TrialEnd.COMPLETE if step == exp.budget.max_steps else None
            metrics = {"accuracy": value, "f1": value, "eval_loss": 1 - value}
            reports.append(
                StepReport(
                    step=step,
                    metrics=metrics,
                    train_loss=math.nan,
                    lr=lora.lr,
                    examples=step * 16,
                    tokens=step * 160,
                    device_seconds=step * 0.01,
                    end=end,
                )
            )
            report(reports[-1])
        return TrialOutcome(
            end=TrialEnd.COMPLETE, steps=exp.budget.max_steps, final_metrics=reports[-1].metrics, reports=reports
        )

    real, adapter.run_trial = adapter.run_trial, run_trial
    try:
        lorasweep_trainable(config, **kwargs)
    finally:  # a reused worker process runs the real trial again
        adapter.run_trial = real


def scripted_values(config: dict[str, Any], **kwargs: Any) -> None:
    """Optuna trial 0 reports 0.9, every later trial 0.1 (so ASHA's rung at step 10 must stop them)."""
    _scripted(config, kwargs, 0.9 if config[OPTUNA_NUMBER] == 0 else 0.1)


@pytest.mark.slow
def test_asha_stops_trials_below_the_rung_and_both_stores_say_pruned(storage: Storage) -> None:
    exp = load_experiment(TINY, {"spaces": ["lr_only"], "budget.trials": 4, "budget.max_steps": 20})
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    record = run_compare(exp, storage, "asha", trainable=scripted_values)
    trials = sorted(storage.trials(record.id), key=lambda t: t.optuna_number)
    assert trials[0].state == TrialState.COMPLETE and trials[0].final_value == 0.9
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(t.steps == 10 and t.final_value == 0.1 for t in pruned)  # stopped at the rung
    study = optuna.load_study(study_name="asha/lr_only/r4", storage=storage.url)
    by_number = {t.number: t.state for t in study.trials}
    assert all(by_number[t.optuna_number] == optuna.trial.TrialState.PRUNED for t in pruned)


#: What each study's trials report (by Optuna trial number), at every evaluation: lr_only's
#: values are all high, lora_alpha's all low.
HIGH = [0.9, 0.95, 0.92, 0.97]
LOW = [0.2, 0.1, 0.3, 0.05]


def scripted_per_space(config: dict[str, Any], **kwargs: Any) -> None:
    space = config[STUDY].split("/")[1]  # the study name: EXPERIMENT/SPACE/rR
    _scripted(config, kwargs, (HIGH if space == "lr_only" else LOW)[config[OPTUNA_NUMBER]])


def asha_alone(values: list[float], grace: int = 10, rf: int = 2) -> list[TrialState]:
    """What ASHA (one rung, at ``grace`` steps) decides for trials that report ``values`` in this
    order, judged against each other only: stopped below the (1 - 1/rf) quantile of the earlier
    values at the rung."""
    import numpy as np

    states, seen = [], []
    for v in values:
        stop = bool(seen) and v < np.nanpercentile(seen, (1 - 1 / rf) * 100)
        states.append(TrialState.PRUNED if stop else TrialState.COMPLETE)
        seen.append(v)
    return states


class Recorded(Progress):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def study_started(self, plan: StudyPlan, total: int) -> None:
        self.events.append(("started", plan.space.name))

    def trial_done(self, plan: StudyPlan, state: TrialState, value: float | None) -> None:
        self.events.append(("trial", plan.space.name))

    def study_done(self, plan: StudyPlan) -> None:
        self.events.append(("done", plan.space.name))


@pytest.mark.slow
def test_studies_are_interleaved_in_one_run_and_asha_judges_each_study_on_its_own(storage: Storage) -> None:
    """Two spaces, one trial at a time: trials alternate between the studies, each study gets
    exactly its budget, and ASHA stops a trial only because of its own study's values (lora_alpha
    reports far below lr_only: one shared ASHA would stop every lora_alpha trial at the rung)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    overrides = {"budget.trials": 4, "budget.max_steps": 20, "sampler.name": "random", "max_concurrent_trials": 1}
    exp = load_experiment(TINY, overrides)
    assert [s.name for s in exp.spaces] == ["lr_only", "lora_alpha"] and exp.scheduler.grace_period == 10
    progress = Recorded()
    record = run_compare(exp, storage, "mix", progress=progress, trainable=scripted_per_space)

    studies = {s.id: s for s in storage.studies(record.id)}
    trials = sorted(storage.trials(record.id), key=lambda t: (t.started_at, t.id))
    assert all(t.kind == TrialKind.SEARCH for t in trials)
    order = [studies[t.study_id].space for t in trials]
    assert order == ["lr_only", "lora_alpha"] * 4  # alternating, 4 each
    expected = {"lr_only": asha_alone(HIGH), "lora_alpha": asha_alone(LOW)}
    assert expected["lora_alpha"] == [TrialState.COMPLETE, TrialState.PRUNED] * 2  # the script does prune
    assert expected["lr_only"] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED, TrialState.COMPLETE]
    for study in studies.values():
        own = sorted((t for t in trials if t.study_id == study.id), key=lambda t: t.optuna_number)
        assert [t.optuna_number for t in own] == [0, 1, 2, 3]
        assert [t.state for t in own] == expected[study.space], study.space
        assert all(t.steps == 10 for t in own if t.state == TrialState.PRUNED)  # stopped at the rung
        ot = optuna.load_study(study_name=study.optuna_study_name, storage=storage.url)
        states = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED}
        assert [o.state for o in sorted(ot.trials, key=lambda o: o.number)] == [states[t.state.value] for t in own]
        assert study.finished_at is not None
        # interleaving leaves each study's sampler alone: the points a study asked are those its
        # sampler (same seed) asks when the study runs by itself
        dists = distributions(SpaceConfig.model_validate(study.space_config))
        alone = optuna.create_study(sampler=make_sampler(exp.sampler, exp.seed, dists, 4))
        assert [t.params for t in own] == [pytest.approx(alone.ask(dists).params) for _ in own]

    # one bar per study, both started before any trial ran, each advanced by its own trials
    assert progress.events[:2] == [("started", "lr_only"), ("started", "lora_alpha")]
    trials_done = [space for kind, space in progress.events if kind == "trial"]
    assert trials_done == order
    assert sorted(space for kind, space in progress.events if kind == "done") == ["lora_alpha", "lr_only"]


def raise_on_odd_trials(config: dict[str, Any], **kwargs: Any) -> None:
    """The real trial, except that Optuna trials 1 and 3 raise."""
    if config[OPTUNA_NUMBER] % 2:
        raise RuntimeError(f"boom at lr={config['lr']:.3g}")
    lorasweep_trainable(config, **kwargs)


@pytest.mark.slow
def test_a_trial_that_raises_is_failed_with_its_message_and_the_search_goes_on(storage: Storage) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    exp = load_experiment(TINY, {"budget.trials": 4, "spaces": ["lr_only"], "sampler.name": "random"})
    record = run_compare(exp, storage, "broken", trainable=raise_on_odd_trials)
    trials = storage.trials(record.id)
    assert len(trials) == 4  # every trial ran, whatever failed before it
    failed = [t for t in trials if t.optuna_number % 2]
    assert len(failed) == 2
    for t in trials:
        if t.optuna_number % 2:
            assert t.state == TrialState.FAILED and t.error == f"RuntimeError: boom at lr={t.lr:.3g}"
            assert t.device_seconds > 0  # it held its device until it failed
        else:
            assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.error is None
    study = optuna.load_study(study_name="broken/lr_only/r4", storage=storage.url)
    by_number = {t.number: t for t in study.trials}
    for t in trials:
        assert (by_number[t.optuna_number].state == optuna.trial.TrialState.FAIL) == (t.state == TrialState.FAILED)
    code, out, _ = run_cli("report", "--storage", storage.url, "--experiment", "broken", "--json")
    assert code == 0 and f'"n_failed": {len(failed)}' in out


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
