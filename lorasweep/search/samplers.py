"""Optuna samplers by name: a name → lazy factory registry (unknown names list the valid ones)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from lorasweep.config import SamplerConfig, SamplerName
from lorasweep.errors import ConfigError

Factory = Callable[
    [int, dict[str, Any], dict[str, optuna.distributions.BaseDistribution], int], optuna.samplers.BaseSampler
]


def _grid(
    seed: int, options: dict[str, Any], dists: dict[str, optuna.distributions.BaseDistribution], n_trials: int
) -> optuna.samplers.BaseSampler:
    """A grid of about ``n_trials`` points: per parameter ``points_per_param`` (or the d-th root)
    values, spaced log-uniformly for log distributions."""
    opts = dict(options)
    per = int(opts.pop("points_per_param", max(2, math.ceil(n_trials ** (1 / max(1, len(dists)))))))
    grid: dict[str, list[float]] = {}
    for name, d in dists.items():
        assert isinstance(d, optuna.distributions.FloatDistribution)
        if d.log:
            lo, hi = math.log(d.low), math.log(d.high)
            grid[name] = [math.exp(lo + (hi - lo) * i / (per - 1)) for i in range(per)]
        else:
            grid[name] = [d.low + (d.high - d.low) * i / (per - 1) for i in range(per)]
    return optuna.samplers.GridSampler(grid, seed=seed, **opts)


_FACTORIES: dict[SamplerName, Factory] = {
    SamplerName.TPE: lambda seed, o, d, n: optuna.samplers.TPESampler(seed=seed, **o),
    SamplerName.GP: lambda seed, o, d, n: optuna.samplers.GPSampler(seed=seed, **o),
    SamplerName.CMAES: lambda seed, o, d, n: optuna.samplers.CmaEsSampler(seed=seed, **o),
    SamplerName.RANDOM: lambda seed, o, d, n: optuna.samplers.RandomSampler(seed=seed, **o),
    SamplerName.QMC: lambda seed, o, d, n: optuna.samplers.QMCSampler(seed=seed, **o),
    SamplerName.GRID: _grid,
}


def make_sampler(
    cfg: SamplerConfig, seed: int, dists: dict[str, optuna.distributions.BaseDistribution], n_trials: int
) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded; bad ``options`` name the sampler and the problem."""
    try:
        return _FACTORIES[cfg.name](seed, dict(cfg.options), dists, n_trials)
    except TypeError as e:
        raise ConfigError(f"sampler.options for {cfg.name.value}: {e}; see the Optuna sampler's arguments") from e
