"""The Tune function for ``kind: python`` experiments: one call of the user's callable per trial.

It builds the trial's :class:`~lorasweep.train.user_code.Trial` from the sampled config (as the
built-in trainable builds its LoRA settings), forwards each report to ``ray.tune.report`` (with the
best adapter as the trial's checkpoint), and turns Tune's stop of the trial (the scheduler's
decision: ``tune.report`` exits the training thread) into :class:`~lorasweep.train.user_code.TrialPruned`
for the user's code. When the callable has returned after a prune, the thread exits as Tune expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lorasweep.config import ExperimentConfig, SpaceConfig
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, evaluates_test, sampled_params, trial_seed
from lorasweep.space.resolve import resolve
from lorasweep.train.train import StepReport
from lorasweep.train.user_code import TrialPruned
from lorasweep.train.user_runner import cached_entrypoint, make_trial, run_user_trial

__all__ = ["run_user_code"]


def _send(r: StepReport, folder: str | None) -> None:
    """One report to Tune; Tune stopping the trial here (``SystemExit(0)`` from ``tune.report``)
    is :class:`TrialPruned`."""
    from ray import tune

    try:
        if folder is None:
            tune.report(r.as_dict())
        else:
            tune.report(r.as_dict(), checkpoint=tune.Checkpoint.from_directory(folder))
    except SystemExit as e:
        if e.code not in (0, None):
            raise
        raise TrialPruned(f"stopped by the scheduler at step {r.step}") from None


def run_user_code(
    config: dict[str, Any], exp: ExperimentConfig, space: SpaceConfig, rank: int, fn: Callable[..., Any] | None
) -> None:
    """One trial of a ``kind: python`` experiment: ``fn`` (default: the task's entrypoint, imported
    in this worker) called once with the trial (see :func:`~.trainable.lorasweep_trainable`)."""
    lora = resolve(space, sampled_params(config), rank)
    task = exp.task
    if fn is None:
        fn = cached_entrypoint(task.entrypoint, tuple(task.python_path))  # type: ignore[attr-defined]
    trial = make_trial(
        exp,
        lora,
        trial_seed(config, exp.seed),
        space=space.name,
        number=config.get(OPTUNA_NUMBER),
        send=_send,
        evaluate_test=evaluates_test(config),
    )
    if run_user_trial(fn, trial):
        raise SystemExit(0)  # Tune stopped this trial at a report: end its thread as tune.report would have
