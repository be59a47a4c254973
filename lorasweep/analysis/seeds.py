"""``compare --seeds``' re-runs per space and seed, and the paired t-interval verdict (re-runs
that did not complete count at the worst value observed)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.ablation import ablation
from lorasweep.analysis.stats import CONFIDENCE, MIN_SEEDS, Interval, mean_interval, paired_difference, verdict
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.config import Direction
from lorasweep.store import TrialRecord, TrialState

#: What the reports say when an experiment compared spaces without re-running them on new seeds.
NO_SEEDS_VERDICT = (
    "no verdict possible from one search seed: each space's best mixes the method with that seed's luck; "
    "re-run each space's best config on new seeds with lorasweep compare --seeds 5"
)


def _has_value(t: TrialRecord) -> bool:
    return t.state == TrialState.COMPLETE and t.final_value is not None and math.isfinite(t.final_value)


@dataclass(frozen=True, kw_only=True)
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
        return cls(total=len(trials), incomplete=counts)

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


@dataclass(frozen=True, kw_only=True)
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
    return SeedComparison(
        per_space=per_space,
        per_seed=per_seed,
        difference=difference,
        verdict=text,
        winner=winner,
        reruns=reruns,
        counted_at=counted_at,
        seeds_needed=needed,
        withheld=withheld,
        unpaired=unpaired,
    )


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
