"""Every sampler by name: seeded, in range, and the same sequence for the same seed."""

from __future__ import annotations

import math

import optuna
import pytest

from lorasweep.config import FloatRange, SamplerConfig, SamplerName
from lorasweep.errors import ConfigError
from lorasweep.search.samplers import make_sampler, startup_trials
from lorasweep.search.spaces import at_rank, distributions, load_space

STEP = FloatRange(low=2e-6, high=2e-2)


def _run(name: SamplerName, space: str, seed: int, n: int = 6) -> list[dict[str, float]]:
    dists = distributions(at_rank(load_space(space), 8, STEP))
    study = optuna.create_study(sampler=make_sampler(SamplerConfig(name=name), seed, dists, n), direction="maximize")
    out = []
    for _ in range(n):
        trial = study.ask(dists)
        out.append(trial.params)
        study.tell(trial, -abs(math.log10(next(iter(trial.params.values())))))
    return out


@pytest.mark.parametrize("name", list(SamplerName))
@pytest.mark.parametrize("space", ["lr_only", "lora_alpha"])
def test_every_sampler_samples_the_space_reproducibly(name: SamplerName, space: str) -> None:
    dists = distributions(at_rank(load_space(space), 8, STEP))
    first = _run(name, space, seed=3)
    assert first == _run(name, space, seed=3)
    for params in first:
        assert set(params) == set(dists)
        for key, value in params.items():
            assert dists[key].low <= value <= dists[key].high


def test_grid_includes_the_exact_ends() -> None:
    values = sorted(p["lr"] for p in _run(SamplerName.GRID, "lr_only", seed=0, n=6))
    assert values[0] == 1e-6 and values[-1] == 1e-2 and len(set(values)) == 6


def test_model_based_samplers_start_with_a_share_of_the_budget() -> None:
    assert [startup_trials(n) for n in (4, 8, 16, 40, 400)] == [2, 2, 4, 10, 10]
    tpe = make_sampler(SamplerConfig(name=SamplerName.TPE), 0, {}, 16)
    assert tpe._n_startup_trials == 4
    explicit = make_sampler(SamplerConfig(name=SamplerName.TPE, options={"n_startup_trials": 1}), 0, {}, 16)
    assert explicit._n_startup_trials == 1


def test_bad_sampler_options_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sampler\.options for tpe"):
        make_sampler(SamplerConfig(name=SamplerName.TPE, options={"no_such_option": 1}), 0, {}, 8)
