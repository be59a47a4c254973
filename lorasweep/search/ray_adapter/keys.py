"""The keys lorasweep adds to a Tune trial's config next to the sampled parameters, and how to read
them back. Plain Python: the runner and the ablation's points use them without importing Ray or torch.
"""

from __future__ import annotations

from typing import Any

#: The Optuna trial number (search trials).
OPTUNA_NUMBER = "optuna_number"
#: The trial's seed (seed re-runs and ablation points; search trials use the experiment's seed).
SEED = "seed"
#: The study the trial belongs to (its Optuna study name): every study of an experiment runs in
#: one Tune run, so the trainable and the callbacks read the space, rank and row from it.
STUDY = "study"
#: A fixed-point trial's config nests its point here (Ray's grid search runs over whole points).
POINT = "point"

_OWN = (OPTUNA_NUMBER, SEED, STUDY)


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A fixed-point trial's ``{"point": {...params, "seed": s, "study": k}}`` as plain keys; other
    configs as they are."""
    return {**config[POINT]} if POINT in config else config


def sampled_params(config: dict[str, Any]) -> dict[str, Any]:
    """The sampler's choices in a Tune trial config (everything but lorasweep's own keys)."""
    return {k: v for k, v in flat_config(config).items() if k not in _OWN}


def trial_seed(config: dict[str, Any], default: int) -> int:
    return int(flat_config(config).get(SEED, default))


def evaluates_test(config: dict[str, Any]) -> bool:
    """Whether a trial evaluates the test split at its end: a fixed-point trial (a seed re-run or
    an ablation point, whose config carries its seed) does; a search trial (selected on the eval
    split) does not."""
    return SEED in flat_config(config)


def trial_study(config: dict[str, Any]) -> str:
    """The study a trial belongs to."""
    study = flat_config(config).get(STUDY)
    if not isinstance(study, str):
        raise KeyError(f"the trial config {sorted(config)} names no study ({STUDY!r}); it was not made by lorasweep")
    return study
