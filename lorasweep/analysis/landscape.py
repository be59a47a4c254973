"""The LR × α landscape: for the space that searches LR and α together, every trial as a point in
the (LR, α) plane and how much of the metric's spread the effective step ``s·LR`` alone explains
(1.0: α and LR are interchangeable along lines of constant ``s·LR``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.choice import complete_trials, space_configs, space_reason
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.store import TrialRecord


@dataclass(frozen=True, kw_only=True)
class Landscape:
    space: str
    rank: int
    points: list[TrialRecord] = field(repr=False)
    effective_step_r2: float | None  # share of the metric's variance explained by s·LR alone
    alpha_r2: float | None  # ... by α alone
    lr_r2: float | None  # ... by LR alone
    space_reason: str = ""  # why this space (see landscape_space)

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "space_reason": self.space_reason,
            "rank": self.rank,
            "points": [
                {"lr": t.lr, "alpha": t.alpha, "effective_step": t.effective_step, "value": t.final_value}
                for t in self.points
            ],
            "effective_step_r2": self.effective_step_r2,
            "alpha_r2": self.alpha_r2,
            "lr_r2": self.lr_r2,
        }


def binned_r2(xs: list[float], ys: list[float], bins: int) -> float | None:
    """R² of predicting ``y`` by the mean of its bin of ``log x`` (equal-width bins): how much of
    y's spread one coordinate explains. None with fewer than 3 points or no spread."""
    if len(xs) < 3:
        return None
    logs = [math.log10(x) for x in xs]
    lo, hi = min(logs), max(logs)
    width = (hi - lo) / bins or 1.0
    groups: dict[int, list[float]] = {}
    for lx, y in zip(logs, ys, strict=True):
        groups.setdefault(min(bins - 1, int((lx - lo) / width)), []).append(y)
    mean = sum(ys) / len(ys)
    total = sum((y - mean) ** 2 for y in ys)
    if total == 0:
        return None
    within = sum(sum((y - sum(g) / len(g)) ** 2 for y in g) for g in groups.values())
    return 1.0 - within / total


def landscape_space(summary: ExperimentSummary) -> tuple[str, str] | None:
    """The first space (config order) whose configuration searches LR and α (``c`` or ``alpha``)
    together, and why; decided from the searched parameters, not from recorded values (a
    multi-rank ``lr_only`` records many α = 2r, but searches LR alone). None if none does."""
    spaces = space_configs(summary)
    candidates = [n for n, space in spaces.items() if space.searches_lr and space.searches_alpha]
    if not candidates:
        return None
    why = f"searches LR and {spaces[candidates[0]].alpha.param} together"
    return candidates[0], space_reason(candidates[0], why, candidates, "searching LR and alpha together")


def landscape(summary: ExperimentSummary) -> Landscape | None:
    """The LR × α plane of the space :func:`landscape_space` picks, at its first rank (None if no
    space searches LR and α together)."""
    chosen = landscape_space(summary)
    if chosen is None:
        return None
    name, space_reason = chosen
    space = summary.spaces[name]
    if not space.trials:
        return None
    rank = min(t.r for t in space.trials)
    points = complete_trials([t for t in space.trials if t.r == rank])
    ys = [t.final_value for t in points]
    bins = max(2, round(math.sqrt(len(points))))

    def r2(key: str) -> float | None:
        return binned_r2([getattr(t, key) for t in points], ys, bins)  # type: ignore[arg-type]

    return Landscape(
        space=name,
        rank=rank,
        points=points,
        effective_step_r2=r2("effective_step"),
        alpha_r2=r2("alpha"),
        lr_r2=r2("lr"),
        space_reason=space_reason,
    )
