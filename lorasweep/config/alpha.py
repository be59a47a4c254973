"""α rules: how a space sets LoRA's α at rank r. Each rule is one class that owns its behaviour —
what it says about itself (:meth:`~AlphaRuleBase.describe`), the Optuna distribution of the
parameter it samples (:meth:`~AlphaRuleBase.distributions`), the LoRA setting of a sampled point
(:meth:`~AlphaRuleBase.apply`) and its parameter's range matched to an effective-step range at a
rank (:meth:`~AlphaRuleBase.matched`) — so no caller switches on rule types.

Adding a rule = one module with one subclass of :class:`AlphaRuleBase` (``rule: Literal["NAME"]``
first) decorated with :func:`alpha_rule`; ``alpha: {rule: NAME, ...}`` in a space file then picks
it from :data:`ALPHA_RULES`. Its formula goes in :mod:`lorasweep.scaling`, with the others. The
seam is documented in :mod:`lorasweep.api.alpha`; the base lives here because spaces are data the
config validates.

Why a registry and not a static ``Field(discriminator="rule")`` union: a pydantic union fixes its
members when the model that holds it is built, so a rule defined in another module could not join
it. :data:`AlphaRule` looks the rule up when it validates (as :data:`~lorasweep.config.TaskConfig`
does for task kinds), with the rule in error locations as pydantic's tagged unions put it.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import Field, SerializeAsAny, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lorasweep import formatting as fmt
from lorasweep.config.fields import MATCHED, Float, FloatRange, Matched, PositiveFloat, StrictModel
from lorasweep.registry import Registry
from lorasweep.scaling import alpha_from_c, alpha_from_power, c_from_alpha, coef_from_alpha

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ALPHA_RULES",
    "AlphaRule",
    "AlphaRuleBase",
    "FixedAlpha",
    "RankMultipleAlpha",
    "RankPowerAlpha",
    "SearchedAlpha",
    "SqrtRankAlpha",
    "alpha_rule",
    "rule_classes",
]


class AlphaRuleBase(StrictModel):
    """An α rule: ``rule: Literal["NAME"]``, its fields, and :meth:`alpha` (α at a rank for a
    sampled point). A rule that samples a parameter sets :attr:`param` (its name in trial params)
    and :attr:`field` (the field holding a number, a ``{low, high, log}`` range or ``matched``),
    and defines :meth:`param_of` (the inverse of :meth:`alpha`); the rest follows from those."""

    rule: str
    #: the sampled parameter's name in trial params (``c``, ``alpha``), or None when α is fixed by the rule
    param: ClassVar[str | None] = None
    #: the field of the rule that holds the parameter (a number, a range, or ``matched``)
    field: ClassVar[str | None] = None

    # -- what a rule defines -------------------------------------------------------------------

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        """α at ``rank`` for a point whose sampled values are ``sampled`` (every rule defines it)."""
        raise TypeError(f"alpha rule {type(self).__name__} does not define alpha(rank, sampled); every rule must")

    def param_of(self, alpha: float, rank: int) -> float:
        """The parameter value that gives ``alpha`` at ``rank`` (inverse of :meth:`alpha`)."""
        raise ValueError(f"alpha rule {self.rule} samples no parameter")

    def formula(self, value: str) -> str:
        """α in words with the parameter written as ``value`` (``"α = 4·√r"``, ``"α = c·√r"``)."""
        return f"α by rule {self.rule}"

    # -- what follows from it ------------------------------------------------------------------

    def setting(self) -> float | FloatRange | str | None:
        """The parameter's setting: a fixed number, a searched range, ``matched``, or None."""
        return getattr(self, self.field) if self.field else None

    def searched_range(self) -> FloatRange | None:
        """The range the parameter is sampled from (None when fixed, or matched and not yet derived)."""
        value = self.setting()
        return value if isinstance(value, FloatRange) else None

    @property
    def searches(self) -> bool:
        """Whether the rule samples its parameter (a range, or ``matched``)."""
        return self.param is not None and (self.setting() == MATCHED or self.searched_range() is not None)

    def describe(self) -> str:
        """What the rule does, for people: the searched parameter with the law it enters
        (``"c (α = c·√r)"``), or α as it is fixed (``"α = 2r"``, ``"α = 16"``)."""
        if self.searches:
            return f"{self.param} ({self.formula(str(self.param))})"
        value = self.setting()
        return self.formula(fmt.C.fmt(float(value)) if value is not None else "")  # type: ignore[arg-type]

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The Optuna distribution of the sampled parameter (empty when the rule samples none).
        A ``matched`` range must first be made explicit for a rank (:meth:`matched`)."""
        import optuna

        if self.setting() == MATCHED:
            raise ValueError(f"alpha.{self.field} is {MATCHED}; its range depends on the rank (use matched())")
        rng = self.searched_range()
        if self.param is None or rng is None:
            return {}
        return {self.param: optuna.distributions.FloatDistribution(rng.low, rng.high, log=rng.log)}

    def apply(self, rank: int, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """The rule's part of the trial's LoRA setting (:class:`~lorasweep.scaling.LoraParams`
        fields) for the point ``sampled`` at ``rank``: ``{"alpha": α}``. A rule that sets more
        (a LoRA+ ratio) returns those fields too."""
        return {"alpha": self.alpha(rank, sampled)}

    def with_range(self, rng: FloatRange) -> AlphaRuleBase:
        """This rule with its parameter searched over ``rng`` (how a ``matched`` range is made explicit)."""
        return self.model_copy(update={self.field: rng})

    def matched(self, rank: int, alpha_low: float, alpha_high: float, log: bool) -> AlphaRuleBase:
        """This rule with its parameter searched over the range that gives α from ``alpha_low``
        to ``alpha_high`` at ``rank`` (the α range an effective-step range needs at a fixed LR)."""
        if self.param is None:
            raise ValueError(f"alpha rule {self.rule} samples no parameter; it cannot be matched")
        return self.with_range(
            FloatRange(low=self.param_of(alpha_low, rank), high=self.param_of(alpha_high, rank), log=log)
        )

    def _value(self, sampled: Mapping[str, Any]) -> float:
        value = self.setting()
        return float(sampled[self.param]) if isinstance(value, FloatRange) else float(value)  # type: ignore[arg-type,index]


#: α rules by name.
ALPHA_RULES: Registry[type[AlphaRuleBase]] = Registry("alpha rule")

R = TypeVar("R", bound=type[AlphaRuleBase])


def rule_name(cls: type[AlphaRuleBase]) -> str:
    """The ``rule:`` value of a rule class (its ``Literal``)."""
    args = typing.get_args(cls.model_fields["rule"].annotation)
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__}: declare the rule's name as rule: Literal['NAME']")
    return args[0]


def alpha_rule(cls: R) -> R:
    """Register an α rule (a class decorator); its name comes from ``rule: Literal[...]``."""
    name = rule_name(cls)
    if cls.alpha is AlphaRuleBase.alpha:
        raise TypeError(f"alpha rule {name} ({cls.__name__}) does not define alpha(rank, sampled)")
    if (cls.param is None) != (cls.field is None):
        raise TypeError(f"alpha rule {name} ({cls.__name__}): set both param and field, or neither")
    if cls.param is not None and cls.param_of is AlphaRuleBase.param_of:
        raise TypeError(f"alpha rule {name} ({cls.__name__}) samples {cls.param} but does not define param_of")
    ALPHA_RULES.register(name, cls)
    return cls


@alpha_rule
class RankMultipleAlpha(AlphaRuleBase):
    """α tied to the rank, ``α = multiplier · r`` (the common heuristics α = r and α = 2r)."""

    rule: Literal["rank_multiple"]
    multiplier: PositiveFloat = Field(2.0, description="α = multiplier · r")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.multiplier * rank

    def describe(self) -> str:
        return f"α = {self.multiplier:g}r"


@alpha_rule
class FixedAlpha(AlphaRuleBase):
    """One α for every rank (e.g. the common fixed 16 or 32)."""

    rule: Literal["fixed"]
    value: PositiveFloat = Field(description="α")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.value

    def describe(self) -> str:
        return f"α = {fmt.ALPHA.fmt(self.value)}"


@alpha_rule
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

    def formula(self, value: str) -> str:
        return f"α = {value}·√r"


@alpha_rule
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

    def formula(self, value: str) -> str:
        return f"α = {value}·r^{self.exponent:g}"


@alpha_rule
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

    def describe(self) -> str:
        return "α"


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        "AlphaRule", [InitErrorDetails(type=PydanticCustomError("alpha_rule", message), loc=loc, input=value)]
    )


def _validate_rule(value: Any, handler: Any) -> AlphaRuleBase:
    """A rule of the kind its ``rule:`` names, validated by that rule's class."""
    if isinstance(value, AlphaRuleBase):
        return value
    if not isinstance(value, Mapping):
        raise PydanticCustomError("model_type", "an alpha rule is a mapping: {rule: NAME, ...}")
    rules = ", ".join(ALPHA_RULES.names())
    rule = value.get("rule")
    if rule is None:
        raise _error(("rule",), f"an alpha rule needs rule: one of {rules}; add it", value)
    if not isinstance(rule, str) or rule not in ALPHA_RULES:
        raise _error(("rule",), f"unknown alpha rule; valid alpha rules: {rules}; pick one", rule)
    try:
        return ALPHA_RULES.get(rule).model_validate(value)
    except ValidationError as e:  # the rule goes into the location, as in pydantic's tagged unions
        raise ValidationError.from_exception_data(
            e.title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(err["type"], err["msg"]), loc=(rule, *err["loc"]), input=err["input"]
                )
                for err in e.errors()
            ],
        ) from None


class RuleUnion:
    """Marks :data:`AlphaRule` for :mod:`lorasweep.config.messages`: its members, by tag."""

    discriminator = "rule"

    def members(self) -> dict[str, type[AlphaRuleBase]]:
        return {name: ALPHA_RULES.get(name) for name in ALPHA_RULES}


#: An α rule of any registered kind (a field type: ``alpha: AlphaRule``); dumps hold the rule's fields.
AlphaRule = Annotated[SerializeAsAny[AlphaRuleBase], WrapValidator(_validate_rule), RuleUnion()]


def rule_classes() -> tuple[type[AlphaRuleBase], ...]:
    """Every registered α rule class."""
    return tuple(ALPHA_RULES.get(name) for name in ALPHA_RULES)
