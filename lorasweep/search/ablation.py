"""The matched-step ablation as points: from a base (r, α0, LR0), the ``alpha`` arm runs
(α0·k, LR0) and the ``lr`` arm runs (α0, LR0·k) for every k, with one seed and the same steps.

Each arm is recorded as a study of its own, whose space searches both LR and α over the range
the points span (so a stored trial resolves like any other); :func:`point_k` reads k back.
"""

from __future__ import annotations

import enum
from typing import Any

from lorasweep.config import AblationConfig, FloatRange, SearchedAlpha, SpaceConfig
from lorasweep.search.ray_adapter.keys import SEED

#: The prefix of an arm's space name (``ablation_alpha``, ``ablation_lr``).
SPACE_PREFIX = "ablation_"


class Arm(enum.StrEnum):
    ALPHA = "alpha"  # α·k at the base LR
    LR = "lr"  # LR·k at the base α


def _span(base: float, ks: list[float]) -> FloatRange:
    return FloatRange(low=base * min(1.0, *ks), high=base * max(1.0, *ks), log=True)


def arm_space(abl: AblationConfig, arm: Arm) -> SpaceConfig:
    return SpaceConfig(
        name=f"{SPACE_PREFIX}{arm.value}",
        description=f"ablation: {arm.value} × k from r={abl.rank}, alpha={abl.alpha:g}, lr={abl.lr:g}",
        lr=_span(abl.lr, abl.ks),
        alpha=SearchedAlpha(rule="search", range=_span(abl.alpha, abl.ks)),
        use_rslora=abl.use_rslora,
    )


def arm_of(space_name: str) -> Arm | None:
    """The arm a study's space name stands for (None for other spaces)."""
    value = space_name.removeprefix(SPACE_PREFIX)
    return Arm(value) if space_name.startswith(SPACE_PREFIX) and value in Arm.__members__.values() else None


def arm_points(abl: AblationConfig, arm: Arm, seed: int) -> list[dict[str, Any]]:
    """One trial config per k: the sampled-parameter values of :func:`arm_space` and the seed."""
    return [
        {
            "lr": abl.lr * k if arm is Arm.LR else abl.lr,
            "alpha": abl.alpha * k if arm is Arm.ALPHA else abl.alpha,
            SEED: seed,
        }
        for k in abl.ks
    ]


def point_k(abl: AblationConfig, arm: Arm, alpha: float, lr: float) -> float:
    """The multiplier of a point, snapped to the configured k it was made from."""
    ratio = alpha / abl.alpha if arm is Arm.ALPHA else lr / abl.lr
    return min(abl.ks, key=lambda k: abs(k - ratio) / k)
