"""The Tune function around :func:`lorasweep.train.train.run_trial`.

Ray only orchestrates: this function rebuilds the trial's settings from plain data, runs the
trial and forwards each report to ``ray.tune.report``. Every study of an experiment runs in one
Tune run, so the trial's config names its study (:data:`~.keys.STUDY`), which gives the space and
the rank. Under ``reuse_actors=True`` one worker process runs many trials, of every study, so the
model, tokenizer and tokenized task are loaded once per process (see the caches in
:mod:`lorasweep.train.model` and :func:`_workload`).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import torch

from lorasweep.api.task import Workload
from lorasweep.config import ExperimentConfig, ModelConfig, SpaceConfig, parse_task
from lorasweep.search.ray_adapter.keys import evaluates_test, sampled_params, trial_seed, trial_study
from lorasweep.space.resolve import resolve
from lorasweep.train.device import choose_device
from lorasweep.train.model import quiet_transformers
from lorasweep.train.train import StepReport, run_trial


@functools.lru_cache(maxsize=2)
def _workload(task_json: str, model_json: str) -> Workload:
    """The task's data and base, built once per worker process (keyed by what it depends on)."""
    return parse_task(task_json).prepare_workload(ModelConfig.model_validate_json(model_json))


@functools.lru_cache(maxsize=4)
def _experiment(experiment_json: str) -> ExperimentConfig:
    return ExperimentConfig.model_validate_json(experiment_json)


@functools.lru_cache(maxsize=4)
def _studies(studies: str) -> dict[str, tuple[SpaceConfig, int]]:
    """Each study's space and rank, by study name."""
    return {k: (SpaceConfig.model_validate(v["space"]), int(v["rank"])) for k, v in json.loads(studies).items()}


def lorasweep_trainable(
    config: dict[str, Any],
    *,
    experiment_json: str,
    studies_json: str,
    verbose: bool = False,
    user_fn: Callable[..., Any] | None = None,
) -> None:
    """Tune function trainable: one LoRA fine-tuning run, reported every ``eval_every`` steps.
    ``studies_json`` (:func:`~lorasweep.search.ray_adapter.tuner.describe_studies`) gives the
    space and rank of the trial's study. A ``kind: python`` experiment's trials call the user's
    callable instead (``user_fn``, passed by value by ``lorasweep.compare(fit)``; else the task's
    entrypoint)."""
    import ray
    from ray import tune

    if not verbose:
        quiet_transformers()
    exp = _experiment(experiment_json)
    space, rank = _studies(studies_json)[trial_study(config)]
    torch.set_num_threads(max(1, int(exp.resources.cpus_per_trial)))
    if exp.task.runs_user_code:  # kind: python: the user's callable trains, not run_trial
        from lorasweep.search.ray_adapter.user_code import run_user_code

        run_user_code(config, exp, space, rank, user_fn)
        return
    lora = resolve(space, sampled_params(config), rank)
    workload = _workload(exp.task.model_dump_json(), exp.model.model_dump_json())

    metric, direction = exp.metric.name, exp.metric.resolved_direction
    best: list[float] = []
    pending: list[str] = []

    def checkpoint(r: StepReport, model: torch.nn.Module) -> None:
        """Save the adapter when this evaluation is the trial's best so far (Ray keeps the best)."""
        value = r.metrics.get(metric)
        if value is None or not math.isfinite(value) or (best and not direction.better(value, best[0])):
            return
        best[:] = [value]
        folder = tempfile.mkdtemp(prefix="lorasweep-adapter-")
        model.save_pretrained(folder)  # PEFT format: adapter_config.json + adapter weights (+ new head)
        pending.append(folder)

    def report(r: StepReport) -> None:
        if not pending:
            tune.report(r.as_dict())
            return
        folder = pending.pop()
        try:
            tune.report(r.as_dict(), checkpoint=tune.Checkpoint.from_directory(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # Ray has copied it to the trial's storage

    # the GPUs Ray assigned this trial (CUDA_VISIBLE_DEVICES names the same ones): on them when
    # torch has CUDA, else an error unless the experiment allows the CPU (logical GPUs in tests)
    device = choose_device(exp, ray.get_gpu_ids())
    run_trial(
        exp,
        lora,
        seed=trial_seed(config, exp.seed),
        report=report,
        workload=workload,
        checkpoint=checkpoint if exp.ray.checkpoints else None,
        device_choice=device,
        test=evaluates_test(config),
    )
