"""Search spaces as data: which parameters a space searches, and the LoRA setting a sample means.

A space (see :class:`lorasweep.config.SpaceConfig`) searches some of ``lr``, ``c``, ``alpha`` and
``loraplus_lr_ratio``.
:func:`distributions` turns it into Optuna distributions; :func:`resolve` turns one sample into
the trial's :class:`~lorasweep.scaling.LoraParams` for a given rank.
"""

from __future__ import annotations

from typing import Any

import optuna

from lorasweep.config import (
    FixedAlpha,
    FloatRange,
    RankMultipleAlpha,
    SearchedAlpha,
    SpaceConfig,
    SqrtRankAlpha,
    builtin_names,
    load_space,
)
from lorasweep.scaling import LoraParams, alpha_from_c

__all__ = ["alpha_at_edge", "builtin_space_names", "distributions", "load_space", "resolve"]


def builtin_space_names() -> list[str]:
    return builtin_names("space")


def _dist(r: FloatRange) -> optuna.distributions.FloatDistribution:
    return optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)


def distributions(space: SpaceConfig) -> dict[str, optuna.distributions.BaseDistribution]:
    """The searched parameters of ``space`` (a subset of lr, c, alpha) as Optuna distributions."""
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


def resolve(space: SpaceConfig, sampled: dict[str, Any], rank: int) -> LoraParams:
    """The LoRA setting that ``sampled`` (values of the searched parameters) means at ``rank``."""
    lr = float(sampled["lr"]) if isinstance(space.lr, FloatRange) else space.lr
    rule = space.alpha
    if isinstance(rule, RankMultipleAlpha):
        alpha = rule.multiplier * rank
    elif isinstance(rule, FixedAlpha):
        alpha = rule.value
    elif isinstance(rule, SqrtRankAlpha):
        c = float(sampled["c"]) if isinstance(rule.c, FloatRange) else rule.c
        alpha = alpha_from_c(c, rank)
    elif isinstance(rule, SearchedAlpha):
        alpha = float(sampled["alpha"])
    else:  # pragma: no cover - the config schema admits only the rules above
        raise TypeError(f"unknown alpha rule {rule!r}")
    ratio = space.loraplus_lr_ratio
    if isinstance(ratio, FloatRange):
        ratio = float(sampled["loraplus_lr_ratio"])
    return LoraParams(rank=rank, alpha=alpha, lr=lr, use_rslora=space.use_rslora, loraplus_lr_ratio=ratio)


#: α within this share of the searched log-range of a bound counts as "at the edge".
EDGE_SHARE = 0.1


def alpha_at_edge(space: SpaceConfig, rank: int, alpha: float) -> bool:
    """Whether ``alpha`` (at ``rank``) lies at the edge of the range ``space`` searches α (or c)
    in: there the optimum may lie outside the range. False for spaces that do not search α."""
    import math

    dists = distributions(space)
    key = "c" if "c" in dists else "alpha" if "alpha" in dists else None
    if key is None:
        return False
    low, high = dists[key].low, dists[key].high  # type: ignore[attr-defined]
    value = alpha / math.sqrt(rank) if key == "c" else alpha
    return min(math.log(value / low), math.log(high / value)) < EDGE_SHARE * math.log(high / low)
