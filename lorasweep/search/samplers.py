"""Optuna samplers by name: each built-in sampler is one entry in the registry
(:data:`~lorasweep.config.SAMPLERS`), a factory ``(seed, options, distributions, n_trials) ->
sampler``. The config checks ``sampler.name`` against the registry (an unknown name is an error
that lists the valid ones), so adding a sampler is one ``@SAMPLERS.add("name")`` factory, here or
in a module of one's own. Factories import Optuna when they run: this module is imported with the
package (to register), and validating a config must not pay for Optuna.

Model-based samplers start with ``n_startup_trials`` random trials (Optuna's default: 10). With a
budget of 8 trials that default would make "TPE" a random search, so unless ``options`` set it,
lorasweep starts with :func:`startup_trials` random trials: a quarter of the budget, 2 to 10.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lorasweep.config import SAMPLERS, SamplerConfig
from lorasweep.errors import ConfigError

if TYPE_CHECKING:
    import optuna

Distributions = dict[str, Any]  # name → optuna.distributions.BaseDistribution


def startup_trials(n_trials: int) -> int:
    """Random trials before a model-based sampler takes over: n/4, at least 2, at most 10."""
    return max(2, min(10, n_trials // 4))


def _with_startup(options: dict[str, Any], n_trials: int) -> dict[str, Any]:
    return {"n_startup_trials": startup_trials(n_trials), **options}


@SAMPLERS.add("tpe")
def _tpe(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, **_with_startup(options, n_trials))


@SAMPLERS.add("gp")
def _gp(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=seed, **_with_startup(options, n_trials))


@SAMPLERS.add("cmaes")
def _cmaes(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, **options)


@SAMPLERS.add("random")
def _random(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed, **options)


@SAMPLERS.add("qmc")
def _qmc(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, **options)


@SAMPLERS.add("grid")
def _grid(seed: int, options: dict[str, Any], dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    """A grid of about ``n_trials`` points: per parameter ``points_per_param`` values (default: the
    d-th root of the budget), log-spaced for log distributions, ends included."""
    import optuna

    from lorasweep.search.grid import AskTellGridSampler

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


def make_sampler(cfg: SamplerConfig, seed: int, dists: Distributions, n_trials: int) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded; bad ``options`` name the sampler and the problem."""
    factory = SAMPLERS.get(cfg.name)
    try:
        return factory(seed, dict(cfg.options), dists, n_trials)
    except TypeError as e:
        raise ConfigError(f"sampler.options for {cfg.name}: {e}; see the Optuna sampler's arguments") from e
