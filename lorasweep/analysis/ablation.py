"""``lorasweep ablation``'s two arms, point by point (final value, divergence, steps to the
target, mean drift ratio)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lorasweep.analysis.choice import complete_trials
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.cost import reaches
from lorasweep.search.ablation import Arm, arm_of, point_k
from lorasweep.store import TrialCurve, TrialRecord, TrialState


@dataclass(frozen=True, kw_only=True)
class AblationPoint:
    k: float
    alpha: float
    lr: float
    final_value: float | None  # None: diverged or failed
    diverged: bool
    diverged_step: int | None
    steps_to_target: int | None  # first evaluation at or better than the target (None: never)
    drift_ratio: float | None  # mean over the trial's measured steps
    state: TrialState

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "alpha": self.alpha,
            "lr": self.lr,
            "final_value": self.final_value,
            "diverged": self.diverged,
            "diverged_step": self.diverged_step,
            "steps_to_target": self.steps_to_target,
            "drift_ratio": self.drift_ratio,
            "state": self.state.value,
        }


@dataclass(frozen=True, kw_only=True)
class Ablation:
    rank: int
    alpha: float
    lr: float
    target: float | None  # the value a point must reach (configured, or the base point's final value)
    arms: dict[Arm, list[AblationPoint]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": {"rank": self.rank, "alpha": self.alpha, "lr": self.lr},
            "target": self.target,
            **{arm.value: [p.as_dict() for p in points] for arm, points in self.arms.items()},
        }

    def largest_stable_k(self, arm: Arm) -> float | None:
        """The largest k below the arm's first divergence (None if k's first point diverged)."""
        stable = None
        for p in self.arms.get(arm, []):
            if p.diverged:
                break
            stable = p.k
        return stable


def _mean_drift_ratio(curve: TrialCurve | None) -> float | None:
    ratios = [r for r in curve.drift_ratios if r is not None and math.isfinite(r)] if curve is not None else []
    return sum(ratios) / len(ratios) if ratios else None


def ablation(summary: ExperimentSummary) -> Ablation | None:
    """The ablation's points per arm, in order of k (None for experiments that are not one)."""
    abl = summary.config.ablation if summary.config is not None else None
    if abl is None or not summary.ablation_trials:
        return None
    arms: dict[Arm, list[TrialRecord]] = {}
    for space, trials in summary.ablation_trials.items():
        if (arm := arm_of(space)) is not None:
            arms[arm] = trials
    target = abl.target
    if target is None:
        base = [t for ts in arms.values() for t in ts if t.alpha == abl.alpha and t.lr == abl.lr]
        done = complete_trials(base)
        target = done[0].final_value if done else None
    out: dict[Arm, list[AblationPoint]] = {}
    for arm in Arm:
        points = []
        for t in arms.get(arm, []):
            curve = summary.curves.get(t.id)
            reached = []
            if curve is not None and target is not None:
                pairs = zip(curve.steps, curve.values, strict=True)
                reached = [step for step, v in pairs if reaches(v, target, summary.direction)]
            points.append(
                AblationPoint(
                    k=point_k(abl, arm, t.alpha, t.lr),
                    alpha=t.alpha,
                    lr=t.lr,
                    final_value=t.final_value if t.state == TrialState.COMPLETE else None,
                    diverged=t.state == TrialState.DIVERGED,
                    diverged_step=t.diverged_step,
                    steps_to_target=min(reached) if reached else None,
                    drift_ratio=_mean_drift_ratio(curve),
                    state=t.state,
                )
            )
        out[arm] = sorted(points, key=lambda p: p.k)
    return Ablation(rank=abl.rank, alpha=abl.alpha, lr=abl.lr, target=target, arms=out)
