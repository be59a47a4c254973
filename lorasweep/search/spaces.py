"""Search spaces as data: which parameters a space searches, and the LoRA setting a sample means.

A space (see :class:`lorasweep.config.SpaceConfig`) searches some of ``lr``, ``c``, ``alpha`` and
``loraplus_lr_ratio``.
:func:`distributions` turns it into Optuna distributions; :func:`resolve` turns one sample into
the trial's :class:`~lorasweep.scaling.LoraParams` for a given rank.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from lorasweep.config import (
    MATCHED,
    AlphaRule,
    FixedAlpha,
    FloatRange,
    RankMultipleAlpha,
    SearchedAlpha,
    SpaceConfig,
    SqrtRankAlpha,
    builtin_names,
    load_space,
)
from lorasweep.errors import ConfigError
from lorasweep.scaling import LoraParams, alpha_for_scaling, alpha_from_c, c_from_alpha, lora_scaling

__all__ = [
    "alpha_at_edge",
    "at_rank",
    "builtin_space_names",
    "contains",
    "coverage",
    "distributions",
    "load_space",
    "resolve",
    "searched",
]


def builtin_space_names() -> list[str]:
    return builtin_names("space")


def _dist(r: FloatRange) -> optuna.distributions.FloatDistribution:
    return optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)


def contains(dist: optuna.distributions.BaseDistribution, value: float) -> bool:
    """Whether ``value`` lies in ``dist``, a float range as :func:`distributions` makes them."""
    if not isinstance(dist, optuna.distributions.FloatDistribution) or dist.step is not None:
        raise TypeError(f"contains: {dist!r} is not a continuous float range")
    return math.isfinite(value) and dist.low <= value <= dist.high


def at_rank(space: SpaceConfig, rank: int, effective_step: FloatRange | None) -> SpaceConfig:
    """``space`` as searched at ``rank``: a ``matched`` range becomes the explicit range whose
    effective steps s·LR span ``effective_step`` exactly (same bounds, same log-width in every
    space). A space without a matched field is returned as it is."""
    field = space.matched
    if field is None:
        return space
    if effective_step is None:
        raise ConfigError(f"space {space.name}: {field} is matched but the experiment has no effective_step range")
    lo, hi, log = effective_step.low, effective_step.high, effective_step.log
    if field == "lr":  # α follows from the rule: LR = s·LR / s
        s = lora_scaling(_alpha(space.alpha, {}, rank), rank, space.use_rslora)
        return space.model_copy(update={"lr": FloatRange(low=lo / s, high=hi / s, log=log)})
    lr = float(space.lr)  # type: ignore[arg-type]  # validation: matched is the only searched step field
    alpha_lo = alpha_for_scaling(lo / lr, rank, space.use_rslora)
    alpha_hi = alpha_for_scaling(hi / lr, rank, space.use_rslora)
    if field == "alpha.c":
        c = FloatRange(low=c_from_alpha(alpha_lo, rank), high=c_from_alpha(alpha_hi, rank), log=log)
        rule = space.alpha.model_copy(update={"c": c})
    else:
        rule = space.alpha.model_copy(update={"range": FloatRange(low=alpha_lo, high=alpha_hi, log=log)})
    return space.model_copy(update={"alpha": rule})


def searched(space: SpaceConfig) -> list[str]:
    """The names of the parameters ``space`` samples (``lr``, ``c``, ``alpha``, ``loraplus_lr_ratio``),
    matched ones included."""
    names = {"lr": "lr", "alpha.c": "c", "alpha.range": "alpha"}
    out = [names[k] for k, v in space.step_fields.items() if v == MATCHED or isinstance(v, FloatRange)]
    return out + (["loraplus_lr_ratio"] if isinstance(space.loraplus_lr_ratio, FloatRange) else [])


def coverage(space: SpaceConfig, rank: int) -> tuple[float, float]:
    """The effective steps s·LR that ``space`` (as searched at ``rank``, see :func:`at_rank`)
    can reach: the smallest and largest over the corners of its searched ranges (s·LR is monotonic
    in each of LR, c and α)."""
    import itertools

    dists = distributions(space)
    steps = [
        resolve(space, dict(zip(dists, corner, strict=True)), rank).effective_step
        for corner in itertools.product(*((d.low, d.high) for d in dists.values()))  # type: ignore[attr-defined]
    ]
    return min(steps), max(steps)


def distributions(space: SpaceConfig) -> dict[str, optuna.distributions.BaseDistribution]:
    """The searched parameters of ``space`` (a subset of lr, c, alpha) as Optuna distributions.
    A ``matched`` space must first be made concrete for a rank (:func:`at_rank`)."""
    if (field := space.matched) is not None:
        raise ConfigError(f"space {space.name}: {field} is {MATCHED}; its range depends on the rank (use at_rank)")
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    if isinstance(space.lr, FloatRange):
        out["lr"] = _dist(space.lr)
    rule = space.alpha
    if isinstance(rule, SqrtRankAlpha) and isinstance(rule.c, FloatRange):
        out["c"] = _dist(rule.c)
    if isinstance(rule, SearchedAlpha):
        out["alpha"] = _dist(rule.range)
    if isinstance(space.loraplus_lr_ratio, FloatRange):
        out["loraplus_lr_ratio"] = _dist(space.loraplus_lr_ratio)
    return out


def _alpha(rule: AlphaRule, sampled: dict[str, Any], rank: int) -> float:
    """α at ``rank`` under ``rule``, given the sampled values (of ``c`` or ``alpha`` when searched)."""
    if isinstance(rule, RankMultipleAlpha):
        return rule.multiplier * rank
    if isinstance(rule, FixedAlpha):
        return rule.value
    if isinstance(rule, SqrtRankAlpha):
        return alpha_from_c(float(sampled["c"]) if isinstance(rule.c, FloatRange) else float(rule.c), rank)
    if isinstance(rule, SearchedAlpha):
        return float(sampled["alpha"])
    raise TypeError(f"unknown alpha rule {rule!r}")  # pragma: no cover - the schema admits only the rules above


def resolve(space: SpaceConfig, sampled: dict[str, Any], rank: int) -> LoraParams:
    """The LoRA setting that ``sampled`` (values of the searched parameters) means at ``rank``."""
    lr = float(sampled["lr"]) if isinstance(space.lr, FloatRange) else float(space.lr)
    ratio = space.loraplus_lr_ratio
    if isinstance(ratio, FloatRange):
        ratio = float(sampled["loraplus_lr_ratio"])
    return LoraParams(
        rank=rank,
        alpha=_alpha(space.alpha, sampled, rank),
        lr=lr,
        use_rslora=space.use_rslora,
        loraplus_lr_ratio=ratio,
    )


#: α within this share of the searched log-range of a bound counts as "at the edge".
EDGE_SHARE = 0.1


def alpha_at_edge(space: SpaceConfig, rank: int, alpha: float) -> bool:
    """Whether ``alpha`` (at ``rank``) lies at the edge of the range ``space`` searches α (or c)
    in: there the optimum may lie outside the range. False for spaces that do not search α."""
    dists = distributions(space)
    key = "c" if "c" in dists else "alpha" if "alpha" in dists else None
    if key is None:
        return False
    low, high = dists[key].low, dists[key].high  # type: ignore[attr-defined]
    value = alpha / math.sqrt(rank) if key == "c" else alpha
    return min(math.log(value / low), math.log(high / value)) < EDGE_SHARE * math.log(high / low)
