"""Every sampler by name: seeded, in range, and the same sequence for the same seed; and a sampler
added as the README says (one registry entry, here in this test module)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import optuna
import pytest

from lorasweep.config import SAMPLERS, FloatRange, SamplerConfig, load_experiment
from lorasweep.errors import ConfigError
from lorasweep.search.samplers import make_sampler, startup_trials
from lorasweep.space.resolve import at_rank, distributions, load_space

STEP = FloatRange(low=2e-6, high=2e-2)


def _run(name: str, space: str, seed: int, n: int = 6) -> list[dict[str, float]]:
    dists = distributions(at_rank(load_space(space), 8, STEP))
    study = optuna.create_study(sampler=make_sampler(SamplerConfig(name=name), seed, dists, n), direction="maximize")
    out = []
    for _ in range(n):
        trial = study.ask(dists)
        out.append(trial.params)
        study.tell(trial, -abs(math.log10(next(iter(trial.params.values())))))
    return out


BUILTIN = ["cmaes", "gp", "grid", "qmc", "random", "tpe"]


class CenterFirstSampler(optuna.samplers.RandomSampler):
    """A sampler of this test's own: the centre of every (log-)range first, then random points."""

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        if trial.number == 0:
            if dist.log:
                return math.exp((math.log(dist.low) + math.log(dist.high)) / 2)
            return (dist.low + dist.high) / 2
        return super().sample_independent(study, trial, name, dist)


def center_first(seed: int, options: dict[str, Any], dists: Any, n_trials: int) -> optuna.samplers.BaseSampler:
    return CenterFirstSampler(seed=seed, **options)


@pytest.fixture
def added_sampler() -> Iterator[str]:
    """Adding a sampler is one registry entry (removed again so other tests see the built-ins)."""
    SAMPLERS.add("center_first")(center_first)
    yield "center_first"
    SAMPLERS.remove("center_first")


def test_the_builtin_samplers_are_registered() -> None:
    assert SAMPLERS.names() == BUILTIN


@pytest.mark.parametrize("name", [*BUILTIN, "center_first"])
@pytest.mark.parametrize("space", ["lr_only", "lora_alpha"])
def test_every_sampler_samples_the_space_reproducibly(name: str, space: str, added_sampler: str) -> None:
    dists = distributions(at_rank(load_space(space), 8, STEP))
    first = _run(name, space, seed=3)
    assert first == _run(name, space, seed=3)
    for params in first:
        assert set(params) == set(dists)
        for key, value in params.items():
            assert dists[key].low <= value <= dists[key].high


def test_grid_includes_the_exact_ends() -> None:
    values = sorted(p["lr"] for p in _run("grid", "lr_only", seed=0, n=6))
    assert values[0] == 1e-6 and values[-1] == 1e-2 and len(set(values)) == 6


def test_model_based_samplers_start_with_a_share_of_the_budget() -> None:
    assert [startup_trials(n) for n in (4, 8, 16, 40, 400)] == [2, 2, 4, 10, 10]
    tpe = make_sampler(SamplerConfig(name="tpe"), 0, {}, 16)
    assert tpe._n_startup_trials == 4
    explicit = make_sampler(SamplerConfig(name="tpe", options={"n_startup_trials": 1}), 0, {}, 16)
    assert explicit._n_startup_trials == 1


def test_bad_sampler_options_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"sampler\.options for tpe"):
        make_sampler(SamplerConfig(name="tpe", options={"no_such_option": 1}), 0, {}, 8)


def test_an_added_sampler_is_named_in_configs_and_runs(added_sampler: str) -> None:
    exp = load_experiment("default", {"sampler.name": added_sampler})
    assert exp.sampler.name == added_sampler
    first = _run(added_sampler, "lr_only", seed=0, n=3)[0]
    assert first["lr"] == pytest.approx(math.sqrt(2e-6 * 2e-2) / 2)  # the centre of LR = s·LR / 2 (α = 2r)


def test_an_unknown_sampler_lists_the_registered_ones(added_sampler: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown sampler 'bayes'; valid samplers: center_first, cmaes, gp, grid"):
        load_experiment("default", {"sampler.name": "bayes"})
    with pytest.raises(ValueError, match="already registered"):
        SAMPLERS.add(added_sampler)(lambda *args: None)
