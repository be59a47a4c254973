"""Users' callables for tests/test_byo.py, with scripted metrics: what ASHA does with them is
decided by the trial number, not by a training trajectory.

``fit`` reports ``score = 1 / (1 + number)`` (plus a small step term) every ``eval_every`` steps:
in each study, trial 0 leads and every later trial is below it at ASHA's first rung, so with one
trial at a time (reduction factor 2) trial 0 completes and every later one is pruned there.
``params.crash`` names a trial number whose call raises.
"""

from __future__ import annotations

from typing import Any


def fit(trial: Any) -> None:
    if trial.number is not None and trial.number == trial.params.get("crash"):
        raise ValueError(f"scripted crash in trial {trial.number}")
    number = trial.number or 0
    for step in range(1, trial.max_steps + 1):
        trial.report(step, {"train_loss": 1.0})
        if step % trial.eval_every == 0 or step == trial.max_steps:
            trial.report(step, {"score": 1.0 / (1 + number) + step / 1000, "other": float(step)})


def hf_fit(trial: Any) -> Any:
    """A real HF Trainer on the tiny BERT (examples/hf_trainer), whose compute_metrics reports the
    scripted score: ASHA prunes through LorasweepCallback exactly as it would a real metric."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "hf_trainer"))
    import train  # the example's module

    number = trial.number or 0
    train.accuracy = lambda prediction: {"score": 1.0 / (1 + number)}
    return train.fit(trial)
