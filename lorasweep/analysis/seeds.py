"""``compare --seeds``' re-runs per space, rank and seed, and the seed verdict.

The verdict is :func:`lorasweep.analysis.paired.paired_verdict` (exact sign test, stratified by
rank, group-sequential over the recorded looks): re-run ``i`` of the first space is paired with
re-run ``i`` of the second at the same rank and seed (``compare --seeds N`` runs seeds
``experiment seed + 1 .. + N`` in both). What it estimates, in words: how often the first space
beats the second on a new seed at the same rank, judged on the test split (examples the search
never selected on) when every completed re-run has a test value, else on the eval split, and the
verdict says which. A re-run that failed, diverged, was pruned, or
was interrupted and never finished loses to one that completed (never dropped, no penalty value
invented); the winner's downside (failures, drops and by how much) is in the verdict's sentence.

There is one verdict per rank both spaces re-ran, and the verdict the reports lead with: at the
only such rank, or pooled over them (stratified by rank, labelled so). A rank where one space has
no re-run is named, never averaged in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lorasweep.analysis.ablation import ablation
from lorasweep.analysis.paired import PairedVerdict, paired_verdict
from lorasweep.analysis.sign_test import MAX_UNITS, Pair, can_still_decide, min_units, planned_looks
from lorasweep.analysis.summary import ExperimentSummary, summarize
from lorasweep.commands import resume_command
from lorasweep.config import Direction
from lorasweep.store import ExperimentRecord, Storage, TrialRecord, TrialState

#: Fewest new seeds at which the seed verdict can name a winner at all (every seed won by one space).
MIN_VERDICT_SEEDS = min_units(MAX_UNITS)

#: What the reports say when an experiment compared spaces without re-running them on new seeds.
NO_SEEDS_VERDICT = (
    "no verdict possible from one search seed: each space's best mixes the method with that seed's luck; "
    "re-run each space's best config on new seeds with lorasweep compare --seeds auto "
    f"(a verdict needs at least {MIN_VERDICT_SEEDS} seeds; auto adds them in batches up to {MAX_UNITS})"
)


def verdict_value(trial: TrialRecord, *, on_test: bool = False) -> float | None:
    """The value the seed verdict judges a re-run on: its value on the test split (``on_test``)
    or its final eval value, when it completed with a finite one; else None (it did not
    complete, and loses to a re-run that did)."""
    value = trial.test_value if on_test else trial.final_value
    if trial.state != TrialState.COMPLETE or value is None or not math.isfinite(value):
        return None
    return value


def judged_on_test(trials: list[TrialRecord]) -> bool:
    """Whether the seed verdict can judge on the test split: every re-run that completed with a
    finite eval value also has a finite test value (a re-run stored before test splits existed,
    or of a task without one, has none: then the whole verdict is judged on the eval split)."""
    done = [t for t in trials if verdict_value(t) is not None]
    return bool(done) and all(verdict_value(t, on_test=True) is not None for t in done)


def _has_value(t: TrialRecord) -> bool:
    return verdict_value(t) is not None


@dataclass(frozen=True, kw_only=True)
class Reruns:
    """One space's seed re-runs: how many there are and how many did not complete, by state."""

    total: int
    #: re-runs without a value, by state (a COMPLETE one here finished without a finite value)
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
    """``compare --seeds``: each space's re-runs, per rank and seed, and the seed verdict of the
    first two spaces (per rank, and the one the reports lead with)."""

    names: tuple[str, ...]  # the spaces with re-runs, in the experiment's order
    metric: str
    direction: Direction
    #: space → rank → seed → the re-run's value (None: it did not complete; see :func:`seed_value`)
    per_seed: dict[str, dict[int, dict[int, float | None]]]
    verdict: str | None  # the verdict in words, or why there is none
    winner: str | None = None  # the space the verdict names better (None: no verdict, or no difference)
    paired: PairedVerdict | None = None  # the verdict the reports lead with (one rank, or pooled)
    per_rank: dict[int, PairedVerdict] = field(default_factory=dict)  # rank → that rank's own verdict
    reruns: dict[str, Reruns] = field(default_factory=dict)
    withheld: str | None = None  # why no verdict was computed from the data (None: one was)
    unpaired: dict[str, list[int]] = field(default_factory=dict)  # space → seeds re-run only in it
    looks: tuple[int, ...] = ()  # seed counts at which a verdict was shown before (each charged)
    #: the split the re-runs are judged on: "test" (never selected on) or "eval" (the search's own)
    split: str = "eval"

    @property
    def n_seeds(self) -> int:
        """The new seeds the verdict pairs (0 without one)."""
        return 0 if self.paired is None else self.paired.n_units

    @property
    def method(self) -> str:
        looks = len(self.paired.test.looks) if self.paired is not None and self.paired.test is not None else 0
        return (
            f"exact sign test on paired seeds, stratified by rank, 5 % over all {looks} look{'s' * (looks != 1)} "
            f"(sequential, up to {MAX_UNITS} seeds), n = {self.n_seeds}"
        )

    @property
    def too_few_seeds(self) -> bool:
        """No verdict is possible yet from this many untied seeds."""
        return self.withheld is None and (self.paired is None or self.paired.pooled.untied < MIN_VERDICT_SEEDS)

    def values(self, name: str) -> list[float | None]:
        """Every value of ``name``'s re-runs (all ranks and seeds; None: did not complete)."""
        return [v for by_seed in self.per_seed.get(name, {}).values() for v in by_seed.values()]

    def space_dict(self, name: str) -> dict[str, Any]:
        """A space's re-runs as numbers: how many, how many completed, median and range of those."""
        values = self.values(name)
        done = sorted(v for v in values if v is not None)
        return {
            "n": len(values),
            "complete": len(done),
            "median": float(np.median(done)) if done else None,
            "min": done[0] if done else None,
            "max": done[-1] if done else None,
        }

    def as_dict(self) -> dict[str, Any]:
        difference = None
        if self.paired is not None:
            difference = {
                **self.paired.median.as_dict(),
                "method": "median of the paired differences (first space minus second) where both completed, "
                "distribution-free interval (scipy.stats.quantile_test)",
            }
        return {
            "seeds": {name: self.space_dict(name) for name in self.per_seed},
            "difference": difference,
            "verdict": self.verdict,
            "seed_verdict": {
                "winner": self.winner,
                "judged_on": self.split,
                "method": self.method,
                "estimand": self.paired.as_dict()["estimand"] if self.paired is not None else None,
                "min_seeds": MIN_VERDICT_SEEDS,
                "max_seeds": MAX_UNITS,
                "n_seeds": self.n_seeds,
                "looks": list(self.looks),
                "withheld": self.withheld,
                "paired": self.paired.as_dict() if self.paired is not None else None,
                "per_rank": {str(r): v.as_dict() for r, v in self.per_rank.items()},
                "reruns": {name: r.as_dict() for name, r in self.reruns.items()},
                "unpaired_seeds": self.unpaired,
                "per_seed": {
                    name: {str(rank): {str(s): v for s, v in by_seed.items()} for rank, by_seed in by_rank.items()}
                    for name, by_rank in self.per_seed.items()
                },
            },
        }


def seed_looks(summary: ExperimentSummary) -> tuple[int, ...]:
    """The seed counts at which earlier runs showed a verdict (``compare --seeds 5``, then
    ``--resume --seeds 10``: a look at 5), as the runner recorded them in the experiment's config."""
    config = summary.config
    return tuple(config.seeds.looks) if config is not None else ()


def seed_comparison(summary: ExperimentSummary) -> SeedComparison | None:
    """``compare --seeds``: each space's best configs on new seeds (None without re-runs)."""
    if not summary.seed_trials:
        return None
    names = [n for n in summary.spaces if n in summary.seed_trials] or list(summary.seed_trials)
    for n in summary.spaces:  # a space without re-runs is still compared (and said to have none)
        if n not in names:
            names.append(n)
    return compare_reruns(
        names,
        summary.seed_trials,
        summary.direction,
        summary.metric,
        looks=seed_looks(summary),
        experiment=summary.experiment.name,
    )


def seed_value(values: list[float | None], direction: Direction) -> float | None:
    """One space's value on one seed at one rank from its re-runs there (one per re-run config,
    ``--top-k``): the single re-run's value, or with several the median, taken as an observed value
    (the worse of the middle two), a re-run that did not complete ranking last."""
    done = direction.sorted([v for v in values if v is not None], key=lambda v: v)
    ranked: list[float | None] = [*done, *[None] * (len(values) - len(done))]
    return ranked[len(ranked) // 2] if ranked else None


def _settled(trials: list[TrialRecord]) -> list[TrialRecord]:
    """One record per re-run point (config and seed): a finished one; else an interrupted one
    (it never finished: it counts as not completed); running ones as they are."""
    by_point: dict[tuple[Any, ...], list[TrialRecord]] = {}
    for t in trials:
        key = (t.study_id, t.seed, tuple(sorted((k, round(float(v), 12)) for k, v in t.params.items())))
        by_point.setdefault(key, []).append(t)
    out = []
    for ts in by_point.values():
        ended = [t for t in ts if t.state != TrialState.INTERRUPTED]
        out.extend(ended or ts[-1:])
    return out


def compare_reruns(
    names: list[str],
    runs: dict[str, list[TrialRecord]],
    direction: Direction,
    metric: str,
    *,
    looks: tuple[int, ...] | list[int] = (),
    experiment: str | None = None,
) -> SeedComparison:
    """Each space's re-runs per rank and seed, and the seed verdict of the first two spaces in
    ``names`` (see the module docstring); ``experiment`` names the experiment in the command that
    adds seeds. The verdict is withheld while re-runs are still running,
    and when a second space has no re-runs at all."""
    runs = {name: _settled(runs.get(name, [])) for name in names}
    reruns = {name: Reruns.of(runs[name]) for name in names}
    on_test = judged_on_test([t for name in names for t in runs[name]])
    running = sum(r.incomplete.get(TrialState.RUNNING, 0) for r in reruns.values())
    per_seed: dict[str, dict[int, dict[int, float | None]]] = {}
    for name in names:
        grouped: dict[int, dict[int, list[float | None]]] = {}
        for t in runs[name]:
            if t.state != TrialState.RUNNING:
                grouped.setdefault(t.r, {}).setdefault(t.seed, []).append(verdict_value(t, on_test=on_test))
        per_seed[name] = {
            rank: {seed: seed_value(vs, direction) for seed, vs in sorted(by_seed.items())}
            for rank, by_seed in sorted(grouped.items())
        }
    withheld = None
    if running:
        are = "s are" if running > 1 else " is"
        withheld = f"{running} seed re-run{are} still running (the verdict waits for all of them)"
    paired_names = [n for n in names if runs.get(n)]
    if withheld is None and len(paired_names) < 2:
        missing = [n for n in names if not runs.get(n)]
        withheld = (
            f"{', '.join(missing) or 'a second space'} has no seed re-runs "
            "(a space re-runs only its complete search trials)"
        )
    common_kw: dict[str, Any] = {
        "names": tuple(paired_names),
        "metric": metric,
        "direction": direction,
        "per_seed": per_seed,
        "reruns": reruns,
        "looks": tuple(looks),
        "split": "test" if on_test else "eval",
    }
    if withheld is not None:
        return SeedComparison(verdict=f"no verdict: {withheld}", withheld=withheld, **common_kw)
    a, b = paired_names[0], paired_names[1]
    pairs: list[Pair] = []
    unpaired: dict[str, set[int]] = {}
    for rank in sorted(set(per_seed[a]) & set(per_seed[b])):
        sa, sb = per_seed[a][rank], per_seed[b][rank]
        for seed in sorted(set(sa) & set(sb)):
            pairs.append(Pair(unit=seed, stratum=rank, a=sa[seed], b=sb[seed]))
        for name, mine, theirs in ((a, sa, sb), (b, sb, sa)):
            unpaired.setdefault(name, set()).update(set(mine) - set(theirs))
    n = len({p.unit for p in pairs})
    kw: dict[str, Any] = {"name_a": a, "name_b": b, "direction": direction, "metric": metric}
    if experiment is not None:
        kw["add_command"] = resume_command(experiment, then="--seeds auto")
    shown = [k for k in looks if 1 <= k < n]
    verdict = paired_verdict(pairs, strata_a=sorted(per_seed[a]), strata_b=sorted(per_seed[b]), looks=shown, **kw)
    per_rank = {}
    common = sorted(set(per_seed[a]) & set(per_seed[b]))
    for rank in common if len(common) > 1 else ():
        at = [p for p in pairs if p.stratum == rank]
        m = len({p.unit for p in at})
        per_rank[rank] = paired_verdict(at, looks=[k for k in looks if 1 <= k < m], **kw)
    if len(common) == 1:  # the verdict is that rank's
        per_rank[common[0]] = verdict
    notes = [
        "judged on the test split, which the search never selected on"
        if on_test
        else "judged on the eval split the search selected configs on (no test values are stored for these re-runs)"
    ]
    notes += [d for name, r in reruns.items() if (d := r.describe(name))]
    gaps = {name: sorted(s) for name, s in unpaired.items() if s}
    notes += [f"seed {', '.join(map(str, s))} re-run only in {name}, not paired" for name, s in gaps.items()]
    return SeedComparison(
        verdict="; ".join([verdict.text, *notes]),
        winner=verdict.winner,
        paired=verdict,
        per_rank=per_rank,
        unpaired=gaps,
        **common_kw,
    )


def settled(seeds: SeedComparison | None) -> bool:
    """Whether more seeds cannot change the seed verdict: it named a winner, no seeds up to the
    maximum could make it name one, or a space has no re-runs to pair (running re-runs: not yet)."""
    if seeds is None:
        return True
    if seeds.withheld is not None:
        return not any(r.incomplete.get(TrialState.RUNNING) for r in seeds.reruns.values())
    if seeds.paired is None:
        return True
    return seeds.winner is not None or not can_still_decide(seeds.paired.test)


def next_seed_look(storage: Storage, record: ExperimentRecord) -> int | None:
    """``compare --seeds auto``: the seed count the next batch of re-runs goes up to (the next of
    :func:`~lorasweep.analysis.sign_test.planned_looks` after the looks recorded), or None when the
    stored verdict is :func:`settled` or the maximum was reached."""
    summary = summarize(storage, storage.experiment(record.name))
    done = max(seed_looks(summary), default=0)
    if done and settled(seed_comparison(summary)):
        return None
    return next((k for k in planned_looks() if k > done), None)


def verdict_text(summary: ExperimentSummary, seeds: SeedComparison | None) -> str | None:
    """What the reports say about which space is better: the seed verdict, or why there is none
    (None for experiments that compare nothing: an ablation, a single space)."""
    if seeds is not None:
        return seeds.verdict
    if len(summary.spaces) >= 2 and ablation(summary) is None:
        return NO_SEEDS_VERDICT
    return None


def verdict_warnings(summary: ExperimentSummary, seeds: SeedComparison | None) -> list[dict[str, str]]:
    """``report --json`` warnings about the verdict: too few seeds for one, a verdict withheld, a
    rank only one space re-ran, re-runs that did not complete."""
    if seeds is None:
        text = verdict_text(summary, None)
        return [] if text is None else [{"code": "too_few_seeds", "message": text}]
    out = []
    if seeds.too_few_seeds:
        out.append({"code": "too_few_seeds", "message": seeds.verdict or ""})
    if seeds.withheld is not None:
        out.append({"code": "verdict_withheld", "message": seeds.verdict or ""})
    if seeds.paired is not None and seeds.paired.missing:
        out.append({"code": "rank_not_compared", "message": "; ".join(seeds.paired.missing.values())})
    if any(r.n_incomplete for r in seeds.reruns.values()):
        failed = "; ".join(d for n, r in seeds.reruns.items() if (d := r.describe(n)))
        out.append({"code": "seed_reruns_incomplete", "message": f"{failed} (each lost its seed's pair)"})
    return out
