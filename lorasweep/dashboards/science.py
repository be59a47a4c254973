"""The paper's questions, answered from an experiment's trials (computed once, drawn elsewhere).

- :func:`rank_law`: for a space that varies α and ran at two or more ranks, α*(r) per rank and the
  fit ``α* = c·r^p`` with bootstrap intervals, next to the usual reference laws.
- :func:`landscape`: for a space that searches LR and α together, every trial as a point in the
  (LR, α) plane and how much of the metric's spread the effective step ``s·LR`` alone explains
  (1.0: α and LR are interchangeable along lines of constant ``s·LR``).
- :func:`drift_curves`: mean drift ratio per step, per space.
- :func:`ablation`: ``lorasweep ablation``'s two arms, point by point (final value, divergence,
  steps to the target, mean drift ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.law import REFERENCE_LAWS, LawFit, fit_power_law
from lorasweep.analysis.stats import Interval, bootstrap_mean, paired_difference, verdict
from lorasweep.config import Direction
from lorasweep.cost import reaches
from lorasweep.dashboards.summary import ExperimentSummary, SpaceSummary
from lorasweep.search.ablation import Arm, arm_of, point_k
from lorasweep.store import TrialCurve, TrialRecord, TrialState

#: Trials per rank whose α are averaged into α*(r) (1: the best trial's α).
ALPHA_STAR_TOP_K = 1


def _varies_alpha(space: SpaceSummary) -> bool:
    return len({round(t.c, 9) for t in space.trials}) > 1


def _done(trials: list[TrialRecord]) -> list[TrialRecord]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]


@dataclass(frozen=True)
class RankLaw:
    space: str
    alpha_star: dict[int, float]
    fit: LawFit | None
    reason: str | None = None  # why there is no fit
    at_edge: list[int] = field(default_factory=list)  # ranks whose α* is at the edge of the searched range

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "space": self.space,
            "alpha_star": {str(r): a for r, a in self.alpha_star.items()},
            "at_edge": self.at_edge,
        }
        if self.fit is None:
            return {**out, "c": None, "c_ci": None, "p": None, "p_ci": None, "note": self.reason}
        return {
            **out,
            **self.fit.as_dict(),
            "p_1_inside": self.fit.contains_p(1.0),
            "p_0.5_inside": self.fit.contains_p(0.5),
            "references": [law.as_dict() for law in REFERENCE_LAWS],
        }


def rank_law(summary: ExperimentSummary, top_k: int = ALPHA_STAR_TOP_K) -> RankLaw | None:
    """The law for the first space that varies α over two or more ranks (None if there is none)."""
    for space in summary.spaces.values():
        ranks = sorted({t.r for t in space.trials})
        if len(ranks) < 2 or not _varies_alpha(space):
            continue
        alpha_star: dict[int, float] = {}
        for r in ranks:
            done = _done([t for t in space.trials if t.r == r])
            done.sort(key=lambda t: t.final_value, reverse=summary.direction is Direction.MAXIMIZE)  # type: ignore[arg-type,return-value]
            if done:
                top = done[:top_k]
                alpha_star[r] = math.exp(sum(math.log(t.alpha) for t in top) / len(top))
        edge = _at_edge(summary, space, alpha_star)
        if len(alpha_star) < 2:
            return RankLaw(space.name, alpha_star, None, "fewer than 2 ranks have a complete trial", edge)
        fit = fit_power_law(list(alpha_star), list(alpha_star.values()))
        return RankLaw(space.name, alpha_star, fit, None, edge)
    return None


def _at_edge(summary: ExperimentSummary, space: SpaceSummary, alpha_star: dict[int, float]) -> list[int]:
    """Ranks whose α* lies at the edge of the searched range: there the optimum may lie outside
    it, and the law reflects the range rather than the task."""
    from lorasweep.search.spaces import alpha_at_edge, at_rank

    config = summary.config
    spaces = {s.name: s for s in config.spaces} if config is not None else {}
    if config is None or space.name not in spaces:
        return []
    return [
        r for r, a in alpha_star.items() if alpha_at_edge(at_rank(spaces[space.name], r, config.effective_step), r, a)
    ]


@dataclass(frozen=True)
class Landscape:
    space: str
    rank: int
    points: list[TrialRecord] = field(repr=False)
    effective_step_r2: float | None  # share of the metric's variance explained by s·LR alone
    alpha_r2: float | None  # ... by α alone
    lr_r2: float | None  # ... by LR alone

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
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


def landscape(summary: ExperimentSummary) -> Landscape | None:
    """The first space that searched LR and α together, at its first rank (None if none did)."""
    for space in summary.spaces.values():
        if len({t.lr for t in space.trials}) < 2 or not _varies_alpha(space):
            continue
        rank = min(t.r for t in space.trials)
        points = _done([t for t in space.trials if t.r == rank])
        ys = [t.final_value for t in points]
        bins = max(2, round(math.sqrt(len(points))))

        def r2(key: str, points: list[TrialRecord] = points, ys: list = ys, bins: int = bins) -> float | None:
            return binned_r2([getattr(t, key) for t in points], ys, bins)

        return Landscape(space.name, rank, points, r2("effective_step"), r2("alpha"), r2("lr"))
    return None


def drift_curves(summary: ExperimentSummary) -> dict[str, list[tuple[int, float]]]:
    """Per space: (step, mean drift ratio over its trials' reports at that step)."""
    return summary.drift


@dataclass(frozen=True)
class SeedComparison:
    per_space: dict[str, Interval]  # mean over seeds of each space's re-run value, with its interval
    per_seed: dict[str, dict[int, float]]  # space → seed → value (mean over its top-k configs)
    difference: Interval | None  # paired over seeds: first space minus second
    verdict: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seeds": {name: iv.as_dict() for name, iv in self.per_space.items()},
            "difference": None if self.difference is None else self.difference.as_dict(),
            "verdict": self.verdict,
        }


def seed_comparison(summary: ExperimentSummary) -> SeedComparison | None:
    """``compare --seeds``: each space's best configs on new seeds, with bootstrap intervals, the
    paired difference of the first two spaces and a verdict computed from it."""
    if not summary.seed_trials:
        return None
    per_seed: dict[str, dict[int, float]] = {}
    for name in summary.spaces:
        values: dict[int, list[float]] = {}
        for t in summary.seed_trials.get(name, []):
            if t.state == TrialState.COMPLETE and t.final_value is not None:
                values.setdefault(t.seed, []).append(t.final_value)
        per_seed[name] = {seed: sum(v) / len(v) for seed, v in sorted(values.items())}
    per_space = {name: bootstrap_mean(list(v.values())) for name, v in per_seed.items() if v}
    names = [n for n in summary.spaces if per_seed.get(n)]
    difference = text = None
    if len(names) >= 2:
        a, b = names[0], names[1]
        common = sorted(set(per_seed[a]) & set(per_seed[b]))
        if common:
            difference = paired_difference([per_seed[a][s] for s in common], [per_seed[b][s] for s in common])
            text = verdict(difference, a, b, summary.direction.value, summary.metric)
    return SeedComparison(per_space, per_seed, difference, text)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        done = _done(base)
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
    return Ablation(abl.rank, abl.alpha, abl.lr, target, out)


def science_json(summary: ExperimentSummary) -> dict[str, Any]:
    """The sections of ``report --json`` that exist for this experiment's data."""
    out: dict[str, Any] = {"drift_ratio": {k: [[s, v] for s, v in c] for k, c in drift_curves(summary).items()}}
    if (law := rank_law(summary)) is not None:
        out["rank_law"] = law.as_dict()
    if (land := landscape(summary)) is not None:
        out["landscape"] = land.as_dict()
    if (seeds := seed_comparison(summary)) is not None:
        out.update(seeds.as_dict())
    if (abl := ablation(summary)) is not None:
        out["ablation"] = abl.as_dict()
    return out
