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

from lorasweep.config import MATCHED, FloatRange, SpaceConfig, builtin_names, load_space
from lorasweep.errors import ConfigError
from lorasweep.scaling import LoraParams, alpha_for_scaling, lora_scaling

__all__ = [
    "alpha_at_edge",
    "at_rank",
    "b_coverage",
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
        s = lora_scaling(space.alpha.alpha(rank, {}), rank, space.use_rslora)
        return space.model_copy(update={"lr": FloatRange(low=lo / s, high=hi / s, log=log)})
    lr = float(space.lr)  # type: ignore[arg-type]  # validation: matched is the only searched step field
    alpha_lo = alpha_for_scaling(lo / lr, rank, space.use_rslora)
    alpha_hi = alpha_for_scaling(hi / lr, rank, space.use_rslora)
    return space.model_copy(update={"alpha": space.alpha.matched(rank, alpha_lo, alpha_hi, log)})


def searched(space: SpaceConfig) -> list[str]:
    """The names of the parameters ``space`` samples (``lr``, ``c``, ``alpha``, ``loraplus_lr_ratio``),
    matched ones included."""
    out = ["lr"] if space.searches_lr else []
    out += [space.alpha.param] if space.alpha.searches and space.alpha.param else []
    return out + (["loraplus_lr_ratio"] if isinstance(space.loraplus_lr_ratio, FloatRange) else [])


def _corners(space: SpaceConfig, rank: int) -> list[LoraParams]:
    """The LoRA settings at the corners of ``space``'s searched ranges at ``rank``."""
    import itertools

    dists = distributions(space)
    return [
        resolve(space, dict(zip(dists, corner, strict=True)), rank)
        for corner in itertools.product(*((d.low, d.high) for d in dists.values()))  # type: ignore[attr-defined]
    ]


def coverage(space: SpaceConfig, rank: int) -> tuple[float, float]:
    """The effective steps s·LR that ``space`` (as searched at ``rank``, see :func:`at_rank`)
    can reach: the smallest and largest over the corners of its searched ranges (s·LR is monotonic
    in each of LR, c and α). With LoRA+ this is the A matrices' s·LR (see :func:`b_coverage`)."""
    steps = [p.effective_step for p in _corners(space, rank)]
    return min(steps), max(steps)


def b_coverage(space: SpaceConfig, rank: int) -> tuple[float, float] | None:
    """The s·LR the B matrices of a LoRA+ space reach (ratio × LR: up to the ratio's top times its
    A range); None for a space without a LoRA+ ratio (its B trains at the A's s·LR)."""
    if space.loraplus_lr_ratio is None:
        return None
    steps = [p.b_effective_step for p in _corners(space, rank)]
    return min(steps), max(steps)


def distributions(space: SpaceConfig) -> dict[str, optuna.distributions.BaseDistribution]:
    """The searched parameters of ``space`` (a subset of lr, c, alpha) as Optuna distributions.
    A ``matched`` space must first be made concrete for a rank (:func:`at_rank`)."""
    if (field := space.matched) is not None:
        raise ConfigError(f"space {space.name}: {field} is {MATCHED}; its range depends on the rank (use at_rank)")
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    if isinstance(space.lr, FloatRange):
        out["lr"] = _dist(space.lr)
    out.update(space.alpha.distributions())
    if isinstance(space.loraplus_lr_ratio, FloatRange):
        out["loraplus_lr_ratio"] = _dist(space.loraplus_lr_ratio)
    return out


def resolve(space: SpaceConfig, sampled: dict[str, Any], rank: int) -> LoraParams:
    """The LoRA setting that ``sampled`` (values of the searched parameters) means at ``rank``."""
    lr = float(sampled["lr"]) if isinstance(space.lr, FloatRange) else float(space.lr)
    ratio = space.loraplus_lr_ratio
    if isinstance(ratio, FloatRange):
        ratio = float(sampled["loraplus_lr_ratio"])
    fields: dict[str, Any] = {"lr": lr, "use_rslora": space.use_rslora, "loraplus_lr_ratio": ratio}
    return LoraParams(rank=rank, **{**fields, **space.alpha.apply(rank, sampled)})


#: α within this share of the searched log-range of a bound counts as "at the edge".
EDGE_SHARE = 0.1


def alpha_at_edge(space: SpaceConfig, rank: int, alpha: float) -> bool:
    """Whether ``alpha`` (at ``rank``) lies at the edge of the range ``space`` searches α (or c)
    in: there the optimum may lie outside the range. False for spaces that do not search α."""
    rng = space.alpha.searched_range()
    if rng is None:
        return False
    value = space.alpha.param_of(alpha, rank)
    return min(math.log(value / rng.low), math.log(rng.high / value)) < EDGE_SHARE * math.log(rng.high / rng.low)
