"""Optuna samplers by name: a name → factory registry (unknown names are rejected by the config
schema, which lists the valid ones).

Model-based samplers start with ``n_startup_trials`` random trials (Optuna's default: 10). With a
budget of 8 trials that default would make "TPE" a random search, so unless ``options`` set it,
lorasweep starts with :func:`startup_trials` random trials: a quarter of the budget, 2 to 10.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from lorasweep.config import SamplerConfig, SamplerName
from lorasweep.errors import ConfigError

Distributions = dict[str, optuna.distributions.BaseDistribution]
Factory = Callable[[int, dict[str, Any], Distributions, int], optuna.samplers.BaseSampler]


def startup_trials(n_trials: int) -> int:
    """Random trials before a model-based sampler takes over: n/4, at least 2, at most 10."""
    return max(2, min(10, n_trials // 4))


def _with_startup(options: dict[str, Any], n_trials: int) -> dict[str, Any]:
    return {"n_startup_trials": startup_trials(n_trials), **options}


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for the ask/tell loop that Ray drives. Optuna's version calls
    ``study.stop()`` once the grid is covered, which raises outside ``study.optimize``; here Ray
    stops the search at its trial count instead."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


def _grid(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    """A grid of about ``n_trials`` points: per parameter ``points_per_param`` values (default: the
    d-th root of the budget), log-spaced for log distributions, ends included."""
    opts = dict(options)
    per = int(opts.pop("points_per_param", max(2, math.ceil(n_trials ** (1 / max(1, len(dists)))))))
    if per < 2:
        raise ConfigError(f"sampler.options.points_per_param must be at least 2, got {per}")
    grid: dict[str, list[float]] = {}
    for name, d in dists.items():
        if not isinstance(d, optuna.distributions.FloatDistribution):
            raise ConfigError(f"sampler grid: parameter {name} is not a float range; use another sampler")
        if d.log:
            lo, hi = math.log(d.low), math.log(d.high)
            inner = [math.exp(lo + (hi - lo) * i / (per - 1)) for i in range(1, per - 1)]
        else:
            inner = [d.low + (d.high - d.low) * i / (per - 1) for i in range(1, per - 1)]
        grid[name] = [d.low, *inner, d.high]  # exact ends: exp(log(x)) can overshoot the range
    return AskTellGridSampler(grid, seed=seed, **opts)


_FACTORIES: dict[SamplerName, Factory] = {
    SamplerName.TPE: lambda seed, o, d, n: optuna.samplers.TPESampler(seed=seed, **_with_startup(o, n)),
    SamplerName.GP: lambda seed, o, d, n: optuna.samplers.GPSampler(seed=seed, **_with_startup(o, n)),
    SamplerName.CMAES: lambda seed, o, d, n: optuna.samplers.CmaEsSampler(seed=seed, **o),
    SamplerName.RANDOM: lambda seed, o, d, n: optuna.samplers.RandomSampler(seed=seed, **o),
    SamplerName.QMC: lambda seed, o, d, n: optuna.samplers.QMCSampler(seed=seed, **o),
    SamplerName.GRID: _grid,
}


def make_sampler(cfg: SamplerConfig, seed: int, dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded; bad ``options`` name the sampler and the problem."""
    try:
        return _FACTORIES[cfg.name](seed, dict(cfg.options), dists, n_trials)
    except TypeError as e:
        raise ConfigError(f"sampler.options for {cfg.name.value}: {e}; see the Optuna sampler's arguments") from e
