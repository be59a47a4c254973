"""α rules: how a space sets LoRA's α at rank r. Each rule is one class that owns its behaviour
(which parameter it samples, α for a sampled point, the parameter for a given α), so no caller
switches on rule types.

Adding a rule = one subclass of :class:`AlphaRuleBase` here, listed in :data:`AlphaRule` (the
union discriminated by ``rule:``). Its formula goes in :mod:`lorasweep.scaling`, with the others.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from lorasweep.config.fields import Float, FloatRange, Matched, PositiveFloat, StrictModel
from lorasweep.scaling import alpha_from_c, alpha_from_power, c_from_alpha, coef_from_alpha

__all__ = [
    "AlphaRule",
    "AlphaRuleBase",
    "FixedAlpha",
    "RankMultipleAlpha",
    "RankPowerAlpha",
    "SearchedAlpha",
    "SqrtRankAlpha",
    "rule_classes",
]


class AlphaRuleBase(StrictModel):
    """What every α rule knows about itself: which parameter it samples (if any), its range, α
    for a sampled point, and that parameter for a given α."""

    #: the sampled parameter's name in trial params (``c``, ``alpha``), or None when α is fixed by the rule
    param: ClassVar[str | None] = None
    #: the field of the rule that holds the parameter (a number, a range, or ``matched``)
    field: ClassVar[str | None] = None

    def setting(self) -> float | FloatRange | str | None:
        """The parameter's setting: a fixed number, a searched range, ``matched``, or None."""
        return getattr(self, self.field) if self.field else None

    def searched_range(self) -> FloatRange | None:
        """The range the parameter is sampled from (None when fixed, or matched and not yet derived)."""
        value = self.setting()
        return value if isinstance(value, FloatRange) else None

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        """α at ``rank`` for a point whose sampled values are ``sampled`` (every rule defines it)."""
        raise TypeError(f"alpha rule {type(self).__name__} does not define alpha(rank, sampled); every rule must")

    def param_of(self, alpha: float, rank: int) -> float:
        """The parameter value that gives ``alpha`` at ``rank`` (inverse of :meth:`alpha`)."""
        raise ValueError(f"alpha rule {self.rule} samples no parameter")  # type: ignore[attr-defined]

    def with_range(self, rng: FloatRange) -> AlphaRuleBase:
        """This rule with its parameter searched over ``rng`` (how a ``matched`` range is made explicit)."""
        return self.model_copy(update={self.field: rng})

    def _value(self, sampled: Mapping[str, Any]) -> float:
        value = self.setting()
        return float(sampled[self.param]) if isinstance(value, FloatRange) else float(value)  # type: ignore[arg-type,index]


class RankMultipleAlpha(AlphaRuleBase):
    """α tied to the rank, ``α = multiplier · r`` (the common heuristics α = r and α = 2r)."""

    rule: Literal["rank_multiple"]
    multiplier: PositiveFloat = Field(2.0, description="α = multiplier · r")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.multiplier * rank


class FixedAlpha(AlphaRuleBase):
    """One α for every rank (e.g. the common fixed 16 or 32)."""

    rule: Literal["fixed"]
    value: PositiveFloat = Field(description="α")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.value


class SqrtRankAlpha(AlphaRuleBase):
    """The square-root law ``α = c · √r``; ``c`` is fixed or searched."""

    param: ClassVar[str | None] = "c"
    field: ClassVar[str | None] = "c"
    rule: Literal["sqrt_rank"]
    c: PositiveFloat | FloatRange | Matched = Field(
        description="c in α = c·√r: a number, {low, high, log}, or matched (the range that covers the experiment's "
        "effective_step at each rank)"
    )

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return alpha_from_c(self._value(sampled), rank)

    def param_of(self, alpha: float, rank: int) -> float:
        return c_from_alpha(alpha, rank)


class RankPowerAlpha(AlphaRuleBase):
    """A power law in the rank, ``α = coef · r^exponent``, with ``coef`` fixed or searched: the
    exponent the paper's square-root law fixes at 0.5, set by the user (0: one α for every rank;
    1: α ∝ r). Spaces that differ only in ``exponent`` test the law's exponent at equal budget."""

    param: ClassVar[str | None] = "coef"
    field: ClassVar[str | None] = "coef"
    rule: Literal["rank_power"]
    exponent: Float = Field(ge=0.0, le=2.0, description="the power of r (0.5: the square-root law)")
    coef: PositiveFloat | FloatRange | Matched = Field(
        description="coef in α = coef·r^exponent: a number, {low, high, log}, or matched (the range that covers the "
        "experiment's effective_step at each rank)"
    )

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return alpha_from_power(self._value(sampled), rank, self.exponent)

    def param_of(self, alpha: float, rank: int) -> float:
        return coef_from_alpha(alpha, rank, self.exponent)


class SearchedAlpha(AlphaRuleBase):
    """α searched directly, independent of the rank."""

    param: ClassVar[str | None] = "alpha"
    field: ClassVar[str | None] = "range"
    rule: Literal["search"]
    range: FloatRange | Matched = Field(
        description="α range: {low, high, log}, or matched (covers the experiment's effective_step at each rank)"
    )

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self._value(sampled)

    def param_of(self, alpha: float, rank: int) -> float:
        return alpha


AlphaRule = Annotated[
    RankMultipleAlpha | FixedAlpha | SqrtRankAlpha | RankPowerAlpha | SearchedAlpha, Field(discriminator="rule")
]


def rule_classes() -> tuple[type[AlphaRuleBase], ...]:
    """The members of :data:`AlphaRule`."""
    return typing.get_args(typing.get_args(AlphaRule)[0])
