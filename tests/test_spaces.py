from __future__ import annotations

import math

import optuna
import pytest

from lorasweep.config import FloatRange, RankMultipleAlpha, SqrtRankAlpha
from lorasweep.search.spaces import builtin_space_names, distributions, load_space, resolve


def _sample(space_name: str, rank: int, n: int = 20) -> list:
    space = load_space(space_name)
    dists = distributions(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask(dists)
        out.append((trial.params, resolve(space, trial.params, rank)))
        study.tell(trial, 0.0)
    return out


def test_builtin_spaces_include_the_two_compared() -> None:
    assert {"lr_only", "lora_alpha"} <= set(builtin_space_names())


@pytest.mark.parametrize("rank", [1, 8, 64])
def test_lora_alpha_space_fixes_lr_and_ties_alpha_to_sqrt_rank(rank: int) -> None:
    space = load_space("lora_alpha")
    assert space.lr == 2e-5
    assert isinstance(space.alpha, SqrtRankAlpha) and isinstance(space.alpha.c, FloatRange)
    assert (space.alpha.c.low, space.alpha.c.high) == (1.0, 1024.0)
    samples = _sample("lora_alpha", rank)
    assert {p.lr for _, p in samples} == {2e-5}
    for params, p in samples:
        assert set(params) == {"c"}
        assert params["c"] >= 1.0 and params["c"] <= 1024.0
        assert p.alpha == pytest.approx(params["c"] * math.sqrt(rank))
        assert p.c == pytest.approx(params["c"])


@pytest.mark.parametrize("rank", [1, 8, 64])
def test_lr_only_space_searches_lr_with_alpha_twice_the_rank(rank: int) -> None:
    space = load_space("lr_only")
    assert isinstance(space.alpha, RankMultipleAlpha) and space.alpha.multiplier == 2
    samples = _sample("lr_only", rank)
    lrs = {p.lr for _, p in samples}
    assert len(lrs) == len(samples)  # searched
    for params, p in samples:
        assert set(params) == {"lr"}
        assert 1e-6 <= p.lr <= 1e-2
        assert p.alpha == 2 * rank
        assert p.scaling == 2.0


def test_other_heuristics_are_data(tmp_path) -> None:
    (tmp_path / "r.yaml").write_text(
        "name: tied\nlr: {low: 1.0e-5, high: 1.0e-3}\nalpha: {rule: rank_multiple, multiplier: 1}\n"
    )
    (tmp_path / "f.yaml").write_text(
        "name: fixed16\nlr: {low: 1.0e-5, high: 1.0e-3}\nalpha: {rule: fixed, value: 16}\n"
    )
    assert resolve(load_space(tmp_path / "r.yaml"), {"lr": 1e-4}, 8).alpha == 8
    assert resolve(load_space(tmp_path / "f.yaml"), {"lr": 1e-4}, 64).alpha == 16


def test_alpha_at_edge_of_the_searched_range() -> None:
    from lorasweep.search.spaces import alpha_at_edge

    space = load_space("lora_alpha")  # c in 1..1024, alpha = c * sqrt(r)
    assert alpha_at_edge(space, 16, 1000.0 * 4)  # c = 1000: top
    assert alpha_at_edge(space, 16, 1.2 * 4)  # c = 1.2: bottom
    assert not alpha_at_edge(space, 16, 32.0 * 4)  # c = 32: the middle (in log scale)
    assert not alpha_at_edge(load_space("lr_only"), 8, 16.0)  # α not searched
