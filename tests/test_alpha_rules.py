"""One contract over every registered α rule (the built-in ones and ``tests/rule_log_rank.py``,
added by one file): it describes itself, gives its Optuna distributions, applies a sampled point
(α, and its parameter back from α), matches an effective-step range at each rank, and survives a
round trip through the store (SQLite) with a trial of it."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from pydantic import ValidationError

from lorasweep.api import ALPHA_RULES, AlphaRuleBase
from lorasweep.config import MATCHED, Direction, FloatRange, SpaceConfig, load_space
from lorasweep.report.sections.summary import describe
from lorasweep.space.resolve import at_rank, coverage, distributions, resolve
from lorasweep.store import Storage, TrialKind, TrialStart

RANKS = (1, 4, 16)
RANGE = {"low": 0.5, "high": 8.0, "log": True}


@pytest.fixture(scope="module", autouse=True)
def log_rank() -> Iterator[type[AlphaRuleBase]]:
    """The rule of tests/rule_log_rank.py, registered by importing its module (as a plugin would
    be); unregistered afterwards, so the rest of the suite sees the built-in rules only."""
    module = importlib.import_module("rule_log_rank")
    cls = ALPHA_RULES.register("log_rank", module.LogRankAlpha)
    yield cls
    ALPHA_RULES.remove("log_rank")


def _names() -> tuple[list[str], list[str]]:
    """Every rule's name, and those of the rules with a parameter to match (``matched``)."""
    importlib.import_module("rule_log_rank")  # so that parametrize sees it (the fixture cleans up)
    names = ALPHA_RULES.names()
    matchable = [n for n in names if ALPHA_RULES.get(n).field is not None]
    ALPHA_RULES.remove("log_rank")
    return names, matchable


NAMES, MATCHABLE = _names()


def rules(name: str, setting: str) -> AlphaRuleBase | None:
    """Rule ``name`` with its parameter fixed (``number``), searched (``range``) or ``matched``;
    other required fields at 0.5. None when the rule has no such form."""
    cls = ALPHA_RULES.get(name)
    data: dict[str, Any] = {"rule": name}
    for field, info in cls.model_fields.items():
        if field != "rule" and info.is_required() and field != cls.field:
            data[field] = 0.5
    if cls.field is not None:
        data[cls.field] = {"number": 2.0, "range": RANGE, "matched": MATCHED}[setting]
    elif setting != "number":
        return None
    try:
        return cls.model_validate(data)
    except ValidationError:
        return None  # e.g. a rule whose parameter cannot be a fixed number


def _space(rule: AlphaRuleBase) -> SpaceConfig:
    lr: Any = 1e-3 if rule.searches else {"low": 1e-4, "high": 1e-2, "log": True}
    return SpaceConfig.model_validate({"name": "s", "lr": lr, "alpha": rule.model_dump()})


def test_the_registry_holds_the_built_in_rules_and_the_added_one() -> None:
    assert {"fixed", "rank_multiple", "sqrt_rank", "rank_power", "search", "log_rank"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_describes_itself(name: str) -> None:
    for setting in ("number", "range", "matched"):
        rule = rules(name, setting)
        if rule is None:
            continue
        text = rule.describe()
        assert text and "rule" not in text, text  # not the base's fallback
        searched, *fixed = describe(_space(rule))
        if rule.searches:
            assert searched == f"searches {text}"  # the rule's parameter is what the space searches
        else:
            assert searched == "searches LR" and text in fixed


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_gives_its_distributions(name: str) -> None:
    number, searched, matched = (rules(name, s) for s in ("number", "range", "matched"))
    assert number is None or number.distributions() == {}
    if searched is not None:
        assert searched.distributions() == {searched.param: optuna.distributions.FloatDistribution(0.5, 8.0, log=True)}
        assert distributions(_space(searched))[searched.param] == searched.distributions()[searched.param]
    if matched is not None:
        with pytest.raises(ValueError, match="matched"):
            matched.distributions()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rank", RANKS)
def test_every_rule_applies_a_sampled_point(name: str, rank: int) -> None:
    for setting in ("number", "range"):
        rule = rules(name, setting)
        if rule is None:
            continue
        sampled = {rule.param: 3.0} if rule.searches else {}
        applied = rule.apply(rank, sampled)
        assert applied["alpha"] == rule.alpha(rank, sampled) > 0
        if rule.param is not None:
            value = sampled.get(rule.param, 2.0)
            assert rule.param_of(applied["alpha"], rank) == pytest.approx(value)
        lora = resolve(_space(rule), {"lr": 1e-3, **sampled}, rank)
        assert lora.rank == rank and lora.alpha == applied["alpha"]


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(MATCHABLE)))
def test_a_rule_without_a_parameter_has_no_matched_form(name: str) -> None:
    assert rules(name, "matched") is None


@pytest.mark.parametrize("name", MATCHABLE)
@pytest.mark.parametrize("rank", RANKS)
def test_every_matched_rule_covers_the_effective_step_at_each_rank(name: str, rank: int) -> None:
    rule = rules(name, "matched")
    assert rule is not None
    step = FloatRange(low=1e-4, high=1e-2, log=True)
    concrete = at_rank(_space(rule), rank, step)
    assert concrete.alpha.searched_range() is not None
    low, high = coverage(concrete, rank)
    assert low == pytest.approx(step.low) and high == pytest.approx(step.high)


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_round_trips_through_the_store(name: str, tmp_path: Path) -> None:
    for setting in ("number", "range"):
        rule = rules(name, setting)
        if rule is None:
            continue
        space = _space(rule)
        st = Storage.open(f"sqlite:///{tmp_path / f'{setting}.db'}", create=True)
        try:
            st.upgrade()
            exp = st.create_experiment("e", "", {})
            study = st.add_study(
                exp.id,
                space=space.name,
                rank=4,
                optuna_study_name="e/s/r4",
                metric="accuracy",
                direction=Direction.MAXIMIZE,
                space_config=space.model_dump(mode="json"),
            )
            sampled = {"lr": 1e-3, **({rule.param: 3.0} if rule.searches else {})}
            lora = resolve(space, sampled, 4)
            st.start_trial(
                TrialStart(
                    study_id=study.id,
                    ray_trial_id="t",
                    optuna_number=0,
                    params=sampled,
                    lora=lora,
                    seed=0,
                    kind=TrialKind.SEARCH,
                )
            )
            (stored,) = st.studies(exp.id)
            (trial,) = st.trials(exp.id)
        finally:
            st.close()
        back = SpaceConfig.model_validate(stored.space_config)
        assert back == space and type(back.alpha) is type(rule)
        assert resolve(back, trial.params, trial.r) == lora
        assert (trial.alpha, trial.scaling, trial.effective_step) == (lora.alpha, lora.scaling, lora.effective_step)


def test_an_unknown_rule_lists_the_registered_ones() -> None:
    with pytest.raises(ValidationError, match=r"valid alpha rules: .*sqrt_rank"):
        SpaceConfig.model_validate({"name": "s", "lr": RANGE, "alpha": {"rule": "cube_root"}})


def test_a_rule_that_does_not_define_alpha_is_refused() -> None:
    from typing import Literal

    from lorasweep.api import alpha_rule

    class Half(AlphaRuleBase):
        rule: Literal["half"]

    with pytest.raises(TypeError, match="does not define alpha"):
        alpha_rule(Half)
    assert "half" not in ALPHA_RULES


def test_a_space_searching_the_power_laws_coefficient_says_so() -> None:
    """The report's "Searches" row once switched on rule classes and missed rank_power: a space
    searching its coefficient read "searches nothing"."""
    space = SpaceConfig.model_validate(
        {"name": "p", "lr": 2e-5, "alpha": {"rule": "rank_power", "exponent": 0.5, "coef": RANGE}}
    )
    assert describe(space) == ["searches coef (α = coef·r^0.5)", "LR = 2.0e-5"]
    assert describe(load_space("lora_alpha"))[0] == "searches c (α = c·√r)"


def test_the_sampled_parameter_is_named_in_every_trial() -> None:
    rule = rules("sqrt_rank", "range")
    assert rule is not None
    assert math.isclose(resolve(_space(rule), {"c": 2.0}, 4).alpha, 4.0)
