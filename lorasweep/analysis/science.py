"""The paper's questions, answered from an experiment's trials (computed once, drawn elsewhere).

- :func:`rank_law`: for the space that searches α (preferably at a fixed LR) and ran at two or more
  ranks, α*(r) per rank and the fit ``α* = c·r^p`` with OLS t-intervals, next to the usual
  reference laws; ranks whose study learned nothing are left out, with the reason.
- :func:`landscape`: for the space that searches LR and α together, every trial as a point in the
  (LR, α) plane and how much of the metric's spread the effective step ``s·LR`` alone explains
  (1.0: α and LR are interchangeable along lines of constant ``s·LR``).
- :func:`drift_curves`: mean drift ratio per step, per space.
- :func:`seed_comparison`: ``compare --seeds``' re-runs per space and seed, and the paired
  t-interval verdict (re-runs that did not complete count at the worst value observed).
- :func:`ablation`: ``lorasweep ablation``'s two arms, point by point (final value, divergence,
  steps to the target, mean drift ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.law import P_LINEAR, P_SQRT, REFERENCE_LAWS, LawFit, fit_power_law
from lorasweep.analysis.learned import study_learned
from lorasweep.analysis.stats import CONFIDENCE, MIN_SEEDS, Interval, mean_interval, paired_difference, verdict
from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary
from lorasweep.config import Direction, SpaceConfig
from lorasweep.cost import reaches
from lorasweep.search.ablation import Arm, arm_of, point_k
from lorasweep.store import TrialCurve, TrialRecord, TrialState

#: Trials per rank whose α are averaged into α*(r) (1: the best trial's α).
ALPHA_STAR_TOP_K = 1


def _done(trials: list[TrialRecord]) -> list[TrialRecord]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]


def _configs(summary: ExperimentSummary) -> dict[str, SpaceConfig]:
    """The experiment's space configs that have a summary, by name (config order)."""
    config = summary.config
    if config is None:
        return {}
    return {s.name: s for s in config.spaces if s.name in summary.spaces}


def _space_reason(name: str, why: str, candidates: list[str], what: str) -> str:
    """Why ``name`` was chosen, naming the other ``candidates`` (spaces that are also ``what``)."""
    others = [n for n in candidates if n != name]
    also = f"; also {what}, not used: {', '.join(others)}" if others else ""
    return f"{name} {why}{also}"


def law_space(summary: ExperimentSummary) -> tuple[str, str] | None:
    """The space the rank law is fitted on, and why: decided from the parameters each space's
    configuration searches, never from whether recorded α or c vary (α = 2r varies with the rank
    but only restates its own rule). Candidates search α (``c`` or ``alpha``) and ran at two or
    more ranks; a space with a fixed LR is preferred (α* then means α at that LR), then config
    order. None if no space qualifies."""
    spaces = _configs(summary)
    candidates = [
        name
        for name, space in spaces.items()
        if space.searches_alpha and len({t.r for t in summary.spaces[name].trials}) >= 2
    ]
    if not candidates:
        return None
    fixed_lr = [n for n in candidates if not spaces[n].searches_lr]
    if fixed_lr:
        name = fixed_lr[0]
        why = f"searches {spaces[name].alpha.param} at a fixed LR"
    else:
        name = candidates[0]
        why = f"searches {spaces[name].alpha.param} (with LR: no space searches alpha at a fixed LR)"
    return name, _space_reason(name, why, candidates, "searching alpha over 2+ ranks")


@dataclass(frozen=True)
class RankLaw:
    space: str
    alpha_star: dict[int, float]  # per rank, from that rank's study alone (the ranks fitted)
    fit: LawFit | None
    reason: str | None = None  # why there is no fit
    at_edge: list[int] = field(default_factory=list)  # ranks whose α* is at the edge of the searched range
    space_reason: str = ""  # why this space (see law_space)
    excluded: dict[int, str] = field(default_factory=dict)  # rank → why its α* is left out of the fit
    learned: dict[int, str] = field(default_factory=dict)  # rank → the learned-anything test's result

    @property
    def verdict(self) -> str | None:
        """What the interval says about p = 0.5 against p = 1, in one line (None without a fit)."""
        return law_verdict(self.fit) if self.fit is not None else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "space": self.space,
            "space_reason": self.space_reason,
            "alpha_star": {str(r): a for r, a in self.alpha_star.items()},
            "at_edge": self.at_edge,
            "excluded": {str(r): why for r, why in self.excluded.items()},
            "learned": {str(r): why for r, why in self.learned.items()},
        }
        if self.fit is None:
            return {
                **out,
                "c": None,
                "c_ci": None,
                "p": None,
                "p_ci": None,
                "interval_method": None,
                "p_ambiguous": None,
                "note": self.reason,
            }
        return {
            **out,
            **self.fit.as_dict(),
            "p_1_inside": self.fit.contains_p(P_LINEAR),
            "p_0.5_inside": self.fit.contains_p(P_SQRT),
            "verdict": self.verdict,
            "references": [law.as_dict() for law in REFERENCE_LAWS],
        }


def law_verdict(fit: LawFit) -> str:
    """One line on what the fit's interval can tell: nothing (2 ranks), not p = 0.5 from p = 1
    (both inside), or which of the two it holds."""
    if not fit.has_interval:
        return (
            f"{fit.n} ranks give a point estimate only, no interval: search 3 ranks or more before "
            "telling p = 0.5 from p = 1"
        )
    if fit.p_ambiguous:
        return (
            "the interval is too wide to tell p = 0.5 (sqrt(r)) from p = 1 (alpha ∝ r): both are inside; "
            "search more ranks"
        )
    return (
        f"p = 1 (alpha = r, 2r) is {'inside' if fit.contains_p(P_LINEAR) else 'outside'} the interval; "
        f"p = 0.5 (rsLoRA, the paper's 256·sqrt(r)) is {'inside' if fit.contains_p(P_SQRT) else 'outside'}"
    )


def rank_law(summary: ExperimentSummary, top_k: int = ALPHA_STAR_TOP_K) -> RankLaw | None:
    """The law on the space :func:`law_space` picks (None if no space searches α over two or more
    ranks). α*(r) comes from rank r's trials alone; a rank whose study learned nothing
    (:func:`~lorasweep.analysis.learned.study_learned`) is left out of the fit, with the reason."""
    chosen = law_space(summary)
    if chosen is None:
        return None
    name, space_reason = chosen
    space = summary.spaces[name]
    task = summary.config.task if summary.config is not None else None
    alpha_star: dict[int, float] = {}
    excluded: dict[int, str] = {}
    learned: dict[int, str] = {}
    for r in sorted({t.r for t in space.trials}):
        trials = [t for t in space.trials if t.r == r]
        done = _done(trials)
        done = summary.direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
        if not done:
            excluded[r] = "no complete trial"
            continue
        if task is not None:
            check = study_learned(trials, summary.curves, summary.direction, summary.metric, task)
            learned[r] = check.reason
            if check.learned is False:
                excluded[r] = f"learned nothing: {check.reason}"
                continue
        top = done[:top_k]
        alpha_star[r] = math.exp(sum(math.log(t.alpha) for t in top) / len(top))
    edge = _at_edge(summary, space, alpha_star)
    if len(alpha_star) < 2:
        left = "; ".join(f"r={r}: {why}" for r, why in excluded.items())
        reason = f"fewer than 2 ranks left to fit ({left})" if left else "fewer than 2 ranks have a complete trial"
        return RankLaw(name, alpha_star, None, reason, edge, space_reason, excluded, learned)
    fit = fit_power_law(list(alpha_star), list(alpha_star.values()))
    return RankLaw(name, alpha_star, fit, None, edge, space_reason, excluded, learned)


def _at_edge(summary: ExperimentSummary, space: SpaceSummary, alpha_star: dict[int, float]) -> list[int]:
    """Ranks whose α* lies at the edge of the searched range: there the optimum may lie outside
    it, and the law reflects the range rather than the task."""
    from lorasweep.space.resolve import alpha_at_edge, at_rank

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
    spaces = _configs(summary)
    candidates = [n for n, space in spaces.items() if space.searches_lr and space.searches_alpha]
    if not candidates:
        return None
    why = f"searches LR and {spaces[candidates[0]].alpha.param} together"
    return candidates[0], _space_reason(candidates[0], why, candidates, "searching LR and alpha together")


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
    points = _done([t for t in space.trials if t.r == rank])
    ys = [t.final_value for t in points]
    bins = max(2, round(math.sqrt(len(points))))

    def r2(key: str) -> float | None:
        return binned_r2([getattr(t, key) for t in points], ys, bins)  # type: ignore[arg-type]

    return Landscape(name, rank, points, r2("effective_step"), r2("alpha"), r2("lr"), space_reason)


def drift_curves(summary: ExperimentSummary) -> dict[str, list[tuple[int, float]]]:
    """Per space: (step, mean drift ratio over its trials' reports at that step)."""
    return summary.drift


#: What the reports say when an experiment compared spaces without re-running them on new seeds.
NO_SEEDS_VERDICT = (
    "no verdict possible from one search seed: each space's best mixes the method with that seed's luck; "
    "re-run each space's best config on new seeds with lorasweep compare --seeds 5"
)


def _has_value(t: TrialRecord) -> bool:
    return t.state == TrialState.COMPLETE and t.final_value is not None and math.isfinite(t.final_value)


@dataclass(frozen=True)
class Reruns:
    """One space's seed re-runs: how many there are and how many did not complete, by state."""

    total: int
    #: re-runs without a final value, by state (a COMPLETE one here finished without a finite value)
    incomplete: dict[TrialState, int]

    @classmethod
    def of(cls, trials: list[TrialRecord]) -> Reruns:
        counts: dict[TrialState, int] = {}
        for t in trials:
            if not _has_value(t):
                counts[t.state] = counts.get(t.state, 0) + 1
        return cls(len(trials), counts)

    @property
    def n_incomplete(self) -> int:
        """Finished re-runs that did not complete (running ones are not finished)."""
        return sum(n for state, n in self.incomplete.items() if state != TrialState.RUNNING)

    def describe(self, name: str) -> str:
        """E.g. ``"1 of 5 lr_only re-runs diverged"``; "" when every finished one completed."""
        labels = {TrialState.COMPLETE: "ended without a finite value"}
        parts = [
            (n, labels.get(state, state.value))
            for state, n in self.incomplete.items()
            if state != TrialState.RUNNING and n
        ]
        if not parts:
            return ""
        head = f"{self.n_incomplete} of {self.total} {name} re-runs"
        if len(parts) == 1:
            return f"{head} {parts[0][1]}"
        return f"{head} did not complete ({', '.join(f'{n} {label}' for n, label in parts)})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "complete": self.total - sum(self.incomplete.values()),
            **{
                f"n_{state.value}": self.incomplete.get(state, 0)
                for state in TrialState
                if state != TrialState.COMPLETE
            },
            "n_complete_without_value": self.incomplete.get(TrialState.COMPLETE, 0),
        }


@dataclass(frozen=True)
class SeedComparison:
    """``compare --seeds``: each space's re-runs and the paired verdict of the first two spaces."""

    per_space: dict[str, Interval]  # mean over seeds of each space's re-run value, with its t-interval
    #: space → seed → value (mean over its top-k configs; a re-run that did not complete counts at ``counted_at``)
    per_seed: dict[str, dict[int, float]]
    difference: Interval | None  # paired over seeds: first space minus second
    verdict: str | None
    winner: str | None = None  # the space the verdict names better (None: no verdict, or no difference)
    reruns: dict[str, Reruns] = field(default_factory=dict)
    #: the worst value observed anywhere in the experiment: where re-runs that did not complete count
    counted_at: float | None = None
    seeds_needed: int | None = None  # see stats.Verdict.seeds_needed
    withheld: str | None = None  # why no verdict was computed from the data (None: one was)
    unpaired: dict[str, list[int]] = field(default_factory=dict)  # space → seeds re-run only in it

    @property
    def method(self) -> str:
        n = 0 if self.difference is None else self.difference.n
        return f"paired t-interval, {CONFIDENCE * 100:.3g} %, n = {n}"

    @property
    def too_few_seeds(self) -> bool:
        return self.withheld is None and (self.difference is None or self.difference.n < MIN_SEEDS)

    def cell(self, name: str) -> str:
        """A space's re-runs in one table cell: ``mean [lo, hi] (n)``, and how many did not complete."""
        iv = self.per_space.get(name)
        if iv is None:
            return "—"
        ci = "" if iv.lo is None or iv.hi is None else f" [{iv.lo:.4g}, {iv.hi:.4g}]"
        r = self.reruns.get(name)
        bad = f", {r.n_incomplete} of {r.total} re-runs did not complete" if r is not None and r.n_incomplete else ""
        return f"{iv.mean:.4g}{ci} ({iv.n}{bad})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "seeds": {name: iv.as_dict() for name, iv in self.per_space.items()},
            "difference": None if self.difference is None else self.difference.as_dict(),
            "verdict": self.verdict,
            "seed_verdict": {
                "method": self.method,
                "winner": self.winner,
                "min_seeds": MIN_SEEDS,
                "seeds_needed": self.seeds_needed,
                "withheld": self.withheld,
                "counted_at": self.counted_at,
                "reruns": {name: r.as_dict() for name, r in self.reruns.items()},
                "unpaired_seeds": self.unpaired,
                "per_seed": {name: {str(s): v for s, v in vs.items()} for name, vs in self.per_seed.items()},
            },
        }


def worst_value(summary: ExperimentSummary) -> float | None:
    """The worst finite value of the metric observed anywhere in the experiment (final and best
    values of every search trial, re-run and ablation point of every space): min when
    maximizing, max when minimizing. None if there is none."""
    groups = [s.trials for s in summary.spaces.values()]
    groups += [*summary.seed_trials.values(), *summary.ablation_trials.values()]
    values = [
        v for ts in groups for t in ts for v in (t.final_value, t.best_value) if v is not None and math.isfinite(v)
    ]
    if not values:
        return None
    return summary.direction.worst(values)


def seed_comparison(summary: ExperimentSummary) -> SeedComparison | None:
    """``compare --seeds``: each space's best configs on new seeds (None without re-runs)."""
    if not summary.seed_trials:
        return None
    names = [n for n in summary.spaces if n in summary.seed_trials] or list(summary.seed_trials)
    return compare_reruns(names, summary.seed_trials, worst_value(summary), summary.direction, summary.metric)


def compare_reruns(
    names: list[str],
    runs: dict[str, list[TrialRecord]],
    counted_at: float | None,
    direction: Direction,
    metric: str,
) -> SeedComparison:
    """Each space's re-runs per seed, their t-intervals, and the paired verdict of the first two
    spaces in ``names``.

    A re-run that did not complete (failed, diverged, pruned) counts at ``counted_at`` (the worst
    value observed in the experiment): a config that breaks on some seeds is worse on them, and
    dropping them would favour fragile configs. The verdict is withheld while re-runs are still
    running, and when some did not complete but there is no value to count them at. Interrupted
    re-runs (stopped, run again by ``compare --resume``) are left out.
    """
    runs = {name: [t for t in ts if t.state != TrialState.INTERRUPTED] for name, ts in runs.items()}
    reruns = {name: Reruns.of(runs.get(name, [])) for name in names}
    running = sum(r.incomplete.get(TrialState.RUNNING, 0) for r in reruns.values())
    incomplete = sum(r.n_incomplete for r in reruns.values())
    per_seed: dict[str, dict[int, float]] = {}
    for name in names:
        values: dict[int, list[float | None]] = {}
        for t in runs.get(name, []):
            if t.state == TrialState.RUNNING:
                continue
            values.setdefault(t.seed, []).append(t.final_value if _has_value(t) else counted_at)
        per_seed[name] = {
            seed: sum(v) / len(v)  # type: ignore[arg-type]
            for seed, v in sorted(values.items())
            if all(x is not None for x in v)
        }
    per_space = {name: mean_interval(list(v.values())) for name, v in per_seed.items() if v}

    notes = [d for name, r in reruns.items() if (d := r.describe(name))]
    if incomplete and counted_at is not None:
        notes = [f"{'; '.join(notes)}, counted at {counted_at:.4g} (the worst {metric} observed in the experiment)"]
    withheld = None
    if running:
        are = "s are" if running > 1 else " is"
        withheld = f"{running} seed re-run{are} still running (the verdict waits for all of them)"
    elif incomplete and counted_at is None:
        withheld = (
            f"{incomplete} seed re-run{'s' * (incomplete > 1)} did not complete and no finite {metric} was "
            "observed anywhere in the experiment to count them at"
        )
    paired = [n for n in names if runs.get(n)]
    if withheld is None and len(paired) < 2:
        missing = [n for n in names if not runs.get(n)]
        withheld = (
            f"{', '.join(missing) or 'a second space'} has no seed re-runs "
            "(a space re-runs only its complete search trials)"
        )
    difference, winner, needed, unpaired = None, None, None, {}
    if withheld is not None:
        text = f"no verdict: {withheld}"
    else:
        a, b = paired[0], paired[1]
        common = sorted(set(per_seed[a]) & set(per_seed[b]))
        unpaired = {n: sorted(set(per_seed[n]) - set(common)) for n in (a, b) if set(per_seed[n]) - set(common)}
        if common:
            difference = paired_difference([per_seed[a][s] for s in common], [per_seed[b][s] for s in common])
            v = verdict(difference, a, b, direction.value, metric)
            text, winner, needed = v.text, v.winner, v.seeds_needed
        else:
            text, needed = f"no verdict possible between {a} and {b}: no seed was re-run in both", MIN_SEEDS
        notes += [f"seed {', '.join(map(str, s))} re-run only in {n}, not paired" for n, s in unpaired.items()]
    text = "; ".join([text, *notes])
    return SeedComparison(per_space, per_seed, difference, text, winner, reruns, counted_at, needed, withheld, unpaired)


def verdict_text(summary: ExperimentSummary, seeds: SeedComparison | None) -> str | None:
    """What the reports say about which space is better: the seed verdict, or why there is none
    (None for experiments that compare nothing: an ablation, a single space)."""
    if seeds is not None:
        return seeds.verdict
    if len(summary.spaces) >= 2 and ablation(summary) is None:
        return NO_SEEDS_VERDICT
    return None


def verdict_warnings(summary: ExperimentSummary, seeds: SeedComparison | None) -> list[dict[str, str]]:
    """``report --json`` warnings about the verdict: too few seeds for one, or one withheld."""
    if seeds is None:
        text = verdict_text(summary, None)
        return [] if text is None else [{"code": "too_few_seeds", "message": text}]
    out = []
    if seeds.too_few_seeds:
        out.append({"code": "too_few_seeds", "message": seeds.verdict or ""})
    if seeds.withheld is not None:
        out.append({"code": "verdict_withheld", "message": seeds.verdict or ""})
    if any(r.n_incomplete for r in seeds.reruns.values()):
        failed = "; ".join(d for n, r in seeds.reruns.items() if (d := r.describe(n)))
        at = "" if seeds.counted_at is None else f", counted at {seeds.counted_at:.4g}"
        out.append({"code": "seed_reruns_incomplete", "message": failed + at})
    return out


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
