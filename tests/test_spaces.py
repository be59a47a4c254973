from __future__ import annotations

import math

import optuna
import pytest

from lorasweep.config import ExperimentConfig, FloatRange, RankMultipleAlpha, RankPowerAlpha, SpaceConfig, SqrtRankAlpha
from lorasweep.errors import ConfigError
from lorasweep.space.resolve import at_rank, builtin_space_names, coverage, distributions, load_space, resolve

#: An experiment's default effective-step range (s·LR), which matched spaces cover at every rank.
STEP = ExperimentConfig.model_fields["effective_step"].get_default(call_default_factory=True)
assert STEP is not None and (STEP.low, STEP.high) == (2e-6, 2e-2)


def _sample(space_name: str, rank: int, n: int = 20) -> list:
    space = at_rank(load_space(space_name), rank, STEP)
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
    assert space.lr == 2e-5 and isinstance(space.alpha, SqrtRankAlpha) and space.alpha.c == "matched"
    concrete = at_rank(space, rank, STEP)
    assert isinstance(concrete.alpha, SqrtRankAlpha) and isinstance(concrete.alpha.c, FloatRange)
    # s·LR = (c·√r / r)·2e-5 spans 2e-6..2e-2, so c spans 0.1·√r..1000·√r
    low, high = concrete.alpha.c.low, concrete.alpha.c.high
    assert (low, high) == (pytest.approx(0.1 * math.sqrt(rank)), pytest.approx(1000 * math.sqrt(rank)))
    samples = _sample("lora_alpha", rank)
    assert {p.lr for _, p in samples} == {2e-5}
    for params, p in samples:
        assert set(params) == {"c"}
        assert low <= params["c"] <= high
        assert STEP.low * 0.999 <= p.effective_step <= STEP.high * 1.001
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


@pytest.mark.parametrize("rank", [1, 4, 8, 16, 64, 256])
def test_matched_builtin_spaces_cover_the_same_effective_steps_at_every_rank(rank: int) -> None:
    for name in builtin_space_names():
        space = load_space(name)
        if space.matched is None:
            continue
        lo, hi = coverage(at_rank(space, rank, STEP), rank)
        assert (lo, hi) == (pytest.approx(STEP.low, rel=1e-9), pytest.approx(STEP.high, rel=1e-9)), name
    # the two compared spaces are matched: equal s·LR range and log-width at every rank
    assert load_space("lr_only").matched == "lr" and load_space("lora_alpha").matched == "alpha.c"


def test_an_explicit_space_keeps_its_range_and_reports_its_own_coverage() -> None:
    joint = load_space("joint")  # LR 1e-6..1e-2 and c 1..1024 searched together: nothing matched
    assert at_rank(joint, 8, STEP) is joint
    lo, hi = coverage(joint, 8)
    assert lo == pytest.approx(1e-6 * 1 * math.sqrt(8) / 8) and hi == pytest.approx(1e-2 * 1024 * math.sqrt(8) / 8)


def test_matched_must_be_the_only_searched_step_field(tmp_path) -> None:
    (tmp_path / "both.yaml").write_text(
        "name: both\nlr: {low: 1.0e-5, high: 1.0e-3}\nalpha: {rule: sqrt_rank, c: matched}\n"
    )
    with pytest.raises(ConfigError, match=r"alpha.c is matched .* must be the only one of lr, alpha.c searched"):
        load_space(tmp_path / "both.yaml")
    with pytest.raises(ConfigError, match="depends on the rank"):
        distributions(load_space("lr_only"))  # a matched space must be made concrete for a rank first


def test_alpha_at_edge_of_the_searched_range() -> None:
    from lorasweep.space.resolve import alpha_at_edge

    space = load_space("lora_alpha").model_copy(
        update={"alpha": SqrtRankAlpha(rule="sqrt_rank", c=FloatRange(low=1.0, high=1024.0))}
    )  # c in 1..1024, alpha = c * sqrt(r)
    assert alpha_at_edge(space, 16, 1000.0 * 4)  # c = 1000: top
    assert alpha_at_edge(space, 16, 1.2 * 4)  # c = 1.2: bottom
    assert not alpha_at_edge(space, 16, 32.0 * 4)  # c = 32: the middle (in log scale)
    assert not alpha_at_edge(at_rank(load_space("lr_only"), 8, STEP), 8, 16.0)  # α not searched


# ---------------------------------------------------------------------------------------------
# An α rule added as the README says: one subclass in lorasweep/config/alpha.py, in its union


def _power_space(exponent: float, coef: object = "matched") -> SpaceConfig:
    return SpaceConfig.model_validate(
        {"name": f"power{exponent}", "lr": 2e-5, "alpha": {"rule": "rank_power", "exponent": exponent, "coef": coef}}
    )


@pytest.mark.parametrize("rank", [1, 8, 64])
def test_rank_power_rule_samples_its_coefficient_and_covers_the_matched_steps(rank: int) -> None:
    space = _power_space(0.25)
    assert isinstance(space.alpha, RankPowerAlpha) and space.matched == "alpha.coef"
    concrete = at_rank(space, rank, STEP)
    dists = distributions(concrete)
    assert set(dists) == {"coef"}
    assert coverage(concrete, rank) == (pytest.approx(STEP.low), pytest.approx(STEP.high))
    for coef in (dists["coef"].low, dists["coef"].high, 3.0):
        lora = resolve(concrete, {"coef": coef}, rank)
        assert lora.alpha == pytest.approx(coef * rank**0.25)
        assert concrete.alpha.param_of(lora.alpha, rank) == pytest.approx(coef)


@pytest.mark.parametrize("rank", [1, 8, 64])
def test_rank_power_rule_with_exponent_one_half_is_the_square_root_law(rank: int) -> None:
    power = at_rank(_power_space(0.5), rank, STEP)
    sqrt = at_rank(load_space("lora_alpha"), rank, STEP)
    assert (power.alpha.coef.low, power.alpha.coef.high) == (
        pytest.approx(sqrt.alpha.c.low),
        pytest.approx(sqrt.alpha.c.high),
    )
    assert resolve(power, {"coef": 7.0}, rank).alpha == pytest.approx(resolve(sqrt, {"c": 7.0}, rank).alpha)


def test_rank_power_rule_with_a_fixed_coefficient_searches_nothing_else() -> None:
    with pytest.raises(ValueError, match=r"searches nothing; give one of lr, alpha.c, alpha.coef, alpha.range a"):
        _power_space(1.0, coef=16)
    space = SpaceConfig.model_validate(
        {"name": "p", "lr": {"low": 1e-4, "high": 1e-2}, "alpha": {"rule": "rank_power", "exponent": 1, "coef": 16}}
    )
    assert set(distributions(space)) == {"lr"}
    assert resolve(space, {"lr": 1e-3}, 4).alpha == 64.0
