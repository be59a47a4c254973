"""Repeated searches simulated through the real search path, without Ray or training.

The runner's plan builder and study set-up (:func:`lorasweep.search.studies.compare_plan`,
``runner._search_run``: Optuna studies, rows tagged with their repeat, sampler seeds), the real
searcher (:func:`lorasweep.search.ray_adapter.tuner.interleaved_search`: one Optuna sampler per
study on the RDB storage, interleaved) and the real store callback (``StoreCallback``) run as
in ``compare``; only the trial is scripted: ``value(space, effective_step, rng)`` gives its
final metric, reported once at its last step. The searcher hands out trials one at a time, as
``max_concurrent_trials: 1`` does, so each study's sampler sees every earlier result of its study.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from lorasweep.config import ExperimentConfig
from lorasweep.search import runner
from lorasweep.search.plan import RunContext
from lorasweep.search.ray_adapter.callbacks import StoreCallback
from lorasweep.search.ray_adapter.keys import sampled_params, trial_study
from lorasweep.search.ray_adapter.tuner import interleaved_search
from lorasweep.search.studies import compare_plan
from lorasweep.space.resolve import resolve
from lorasweep.store import ExperimentRecord, ExperimentStatus, Storage, optuna_storage
from lorasweep.train.train import TrialEnd

#: ``value(space name, s·LR, rng) -> metric value`` of one scripted trial.
Objective = Callable[[str, float, np.random.Generator], float]


def _noop(config: dict[str, Any], **kwargs: Any) -> None:  # never called: no Tune run
    raise AssertionError("the simulation runs no trainable")


def simulate(
    storage: Storage,
    name: str,
    exp: ExperimentConfig,
    value: Objective,
    *,
    noise_seed: int,
    resume: bool = False,
    device_seconds: Callable[[str, float], float] = lambda space, step: 1.0,
) -> ExperimentRecord:
    """Run experiment ``exp`` as ``name`` (or, with ``resume``, continue it with ``exp``'s
    repeats) and return its record. Each trial's value comes from ``value`` with a generator
    seeded by (``noise_seed``, study name, trial number), so noise is independent across studies
    and the same for the same trial of a re-run simulation."""
    storage.upgrade()
    if resume:
        record = storage.experiment(name)
        storage.reopen_experiment(record.id)
    else:
        record = storage.create_experiment(name, exp.description, exp.model_dump(mode="json"))
    ctx = RunContext(exp=exp, storage=storage, record=record, ot_storage=optuna_storage(storage), trainable=_noop)
    plan = compare_plan(exp, name)
    runs = [r for r in (runner._search_run(ctx, plan, p) for p in plan.studies) if r.trials > 0]
    if runs:
        search = interleaved_search(ctx, runs)
        store = StoreCallback(storage, runs, exp.seed, ctx.metric, ctx.direction, 0.0, reported=exp.task.metric_names)
        by_key = {r.key: r for r in runs}
        n = 0
        while True:
            tid = f"{name}-{n}"
            config = search.suggest(tid)
            if config is None or config == Searcher.FINISHED:
                break
            n += 1
            trial = SimpleNamespace(trial_id=tid, config=config, last_result=None, checkpoint=None)
            store.on_trial_start(0, [], trial)
            run = by_key[trial_study(config)]
            lora = resolve(run.plan.space, sampled_params(config), run.plan.rank)
            key = [noise_seed, *map(ord, trial_study(config)), int(config["optuna_number"])]
            v = float(value(run.plan.space.name, lora.effective_step, np.random.default_rng(key)))
            steps = exp.budget.max_steps
            result = {
                ctx.metric: v,
                **{m: v for m in exp.task.metric_names if m != ctx.metric},
                "step": steps,
                "examples": steps,
                "tokens": steps,
                "device_seconds": device_seconds(run.plan.space.name, lora.effective_step),
                "end": TrialEnd.COMPLETE.value,
            }
            store.on_trial_result(0, [], trial, result)
            search.on_trial_result(tid, result)
            trial.last_result = result
            search.on_trial_complete(tid, result)
            store.on_trial_complete(0, [], trial)
    storage.finish_experiment(record.id, ExperimentStatus.COMPLETE)
    return storage.experiment(name)
