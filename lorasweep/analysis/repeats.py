"""Repeated searches compared as searches (``compare --repeats K``): anytime curves with bands,
the best each repeat found paired by repeat, and the cost to a target as a distribution.

One search per space answers "is the config A found better than the config B found?", which
mixes the method with that one search's luck. Repeating each search over sampler seeds (repeat
``i`` of every space shares its seed, so repeats pair) answers the question users bring: does
searching this space find a better adapter, for less search? As HPO benchmarks show it:

- **anytime**: each repeat's best value so far against its own cumulative device-seconds and
  against its number of finished trials; per space the median over repeats with the
  interquartile range (:func:`~lorasweep.analysis.anytime_band.band`). A repeat that has no
  complete trial yet counts as the worst outcome there (it has found nothing), never as missing,
  so the median does not drift up as failing repeats drop out;
- **the best per repeat**, paired by repeat (:class:`~lorasweep.analysis.repeat_outcomes.SearchRepeat`);
- **cost to target**: per repeat the device-seconds until its best first reached the target; a
  repeat that never did is censored at the device-seconds it spent (its budget), not dropped and
  never free. Per space: how many reached it and the Kaplan–Meier median with its 95 % interval
  (``scipy.stats.ecdf`` on ``CensoredData``, log-log interval, the median's limits where the
  interval's bounds cross 1/2, as Brookmeyer and Crowley); and which space reached it first,
  repeat by repeat (:class:`~lorasweep.analysis.repeat_outcomes.TargetRace`).

The assembly (:func:`repeat_comparison`) and the repeat-level verdict (:func:`repeat_verdict`) are
here; the bands and the per-repeat outcomes in the modules named above.

The target is the user's (``target.value``) or, when not set, the median of the best values all
repeats of all spaces found (so about half the searches reach it): stated with the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorasweep.analysis.anytime_band import Band, band, cost_grid
from lorasweep.analysis.repeat_outcomes import (
    CostToTarget,
    SearchRepeat,
    TargetRace,
    cost_to_target_km,
    search_repeat,
    target_race,
)
from lorasweep.commands import resume_command
from lorasweep.config import Direction
from lorasweep.cost import derived_target
from lorasweep.store import TrialRecord

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary

__all__ = ["RepeatComparison", "derived_target", "repeat_comparison"]


@dataclass(frozen=True, kw_only=True)
class RepeatComparison:
    """Everything the report says about repeated searches (see the module docstring)."""

    metric: str
    direction: Direction
    #: what each repeat's best is judged on, in words (e.g. "eval accuracy of the search's best")
    value_label: str
    repeats: int
    trials_per_search: int
    spaces: tuple[str, ...]
    ranks: tuple[int, ...]
    runs: tuple[SearchRepeat, ...]
    by_cost: dict[str, Band]
    by_trials: dict[str, Band]
    target: float | None
    target_source: str
    cost: dict[str, CostToTarget]
    race: dict[int, TargetRace]
    #: the repeat-level verdict (the same procedure as the seed verdict; units are repeats)
    verdict: Any = None

    def key(self, space: str, rank: int) -> str:
        """The label of a (space, rank): the space's name, with the rank when there are several."""
        return space if len(self.ranks) == 1 else f"{space} r={rank}"

    def of(self, space: str, rank: int | None = None) -> list[SearchRepeat]:
        return [r for r in self.runs if r.space == space and (rank is None or r.rank == rank)]

    @property
    def device_seconds(self) -> float:
        return sum(r.budget for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "trials_per_search": self.trials_per_search,
            "value": self.value_label,
            "target": {"value": self.target, "source": self.target_source},
            "device_seconds": self.device_seconds,
            "runs": [r.as_dict() for r in self.runs],
            "cost_to_target": {k: c.as_dict() for k, c in self.cost.items()},
            "target_race": {str(rank): race.as_dict() for rank, race in self.race.items()},
            "anytime": {
                "by_device_seconds": {k: b.as_dict() for k, b in self.by_cost.items()},
                "by_trials": {k: b.as_dict() for k, b in self.by_trials.items()},
            },
            "verdict": self.verdict.as_dict() if self.verdict is not None else None,
        }


def repeat_looks(grouped: dict[tuple[str, int, int], list[TrialRecord]]) -> list[int]:
    """The repeat counts at which earlier runs ended (``compare --repeats 3``, then ``--resume
    --repeats 5``: a look at 3): a repeat whose first trial started after every trial of the
    repeats before it had finished was added by a later run. Each such look is charged to the
    verdict's error rate (the sequential procedure of :mod:`lorasweep.analysis.sign_test`)."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for (_, _, i), trials in grouped.items():
        for t in trials:
            starts[i] = min(starts.get(i, math.inf), t.started_at.timestamp())
            if t.finished_at is not None:
                ends[i] = max(ends.get(i, -math.inf), t.finished_at.timestamp())
    repeats = sorted(starts)
    looks = []
    for k, i in enumerate(repeats[1:], start=1):
        before = max((ends.get(j, -math.inf) for j in repeats[:k]), default=-math.inf)
        if starts[i] > before:
            looks.append(k)
    return looks


def repeat_verdict(
    runs: Sequence[SearchRepeat], spaces: Sequence[str], looks: Sequence[int], summary: ExperimentSummary
) -> Any:
    """The repeat-level verdict of the first two spaces: the seed verdict's procedure
    (:func:`lorasweep.analysis.paired.paired_verdict`: exact sign test, failure-aware, stratified by
    rank, sequential over looks) with search repeats as the units; a repeat that completed no trial
    loses to one that did."""
    from lorasweep.analysis.paired import paired_verdict
    from lorasweep.analysis.sign_test import Pair

    a, b = spaces[0], spaces[1]
    by = {(r.space, r.rank, r.repeat): r for r in runs}
    pairs = [
        Pair(unit=i, stratum=rank, a=by[(a, rank, i)].value, b=by[(b, rank, i)].value)
        for (space, rank, i) in sorted(by)
        if space == a and (b, rank, i) in by
    ]
    n = len({p.unit for p in pairs})
    return paired_verdict(
        pairs,
        name_a=a,
        name_b=b,
        direction=summary.direction,
        metric=summary.metric,
        strata_a=sorted({r.rank for r in runs if r.space == a}),
        strata_b=sorted({r.rank for r in runs if r.space == b}),
        looks=[k for k in looks if k < n],
        unit="search repeat",
        add_command=resume_command(summary.experiment.name, then="--repeats K"),
    )


def repeat_comparison(summary: ExperimentSummary) -> RepeatComparison | None:
    """The repeated searches of ``summary``'s experiment; None with fewer than two repeats."""
    if not summary.repeat_trials:
        return None
    repeats = max((max(by, default=0) + 1 for by in summary.repeat_trials.values()), default=1)
    if repeats < 2:
        return None
    direction, config = summary.direction, summary.config
    spaces = tuple(summary.repeat_trials)
    grouped: dict[tuple[str, int, int], list[TrialRecord]] = {}
    for space, by_repeat in summary.repeat_trials.items():
        for i, trials in by_repeat.items():
            for t in trials:
                grouped.setdefault((space, t.r, i), []).append(t)
    ranks = tuple(sorted({r for _, r, _ in grouped}))
    # the target: the user's, or the median best over every repeat (judged as the bests are)
    first = {k: search_repeat(*k, ts, direction, None) for k, ts in sorted(grouped.items())}
    user = config.target.value if config is not None else None
    if user is not None:
        target, source = user, "target.value in the experiment"
    else:
        target = derived_target([r.value for r in first.values()], direction)
        source = f"the median of the best values all {len(first)} searches found"
    runs = tuple(search_repeat(*k, grouped[k], direction, target) for k in sorted(grouped))
    by_cost, by_trials, cost = {}, {}, {}
    label = (lambda s, r: s) if len(ranks) == 1 else (lambda s, r: f"{s} r={r}")
    for space in spaces:
        for rank in ranks:
            of = [r for r in runs if r.space == space and r.rank == rank]
            if not of:
                continue
            key = label(space, rank)
            curves = [r.by_cost for r in of]
            by_cost[key] = band(curves, cost_grid(curves), direction)
            by_trial = [tuple((float(i + 1), v) for i, (_, v) in enumerate(r.by_cost)) for r in of]
            most = max((len(c) for c in by_trial), default=0)
            by_trials[key] = band(by_trial, [float(i) for i in range(1, most + 1)], direction)
            cost[key] = cost_to_target_km(of)
    race = {}
    if len(spaces) >= 2:
        a, b = spaces[0], spaces[1]
        for rank in ranks:
            race[rank] = target_race(
                a,
                b,
                [r for r in runs if r.space == a and r.rank == rank],
                [r for r in runs if r.space == b and r.rank == rank],
            )
    budget = config.budget.trials if config is not None else max((r.n_trials for r in runs), default=0)
    return RepeatComparison(
        metric=summary.metric,
        direction=direction,
        value_label=f"the search's own (eval) {summary.metric} of its best trial",
        repeats=repeats,
        trials_per_search=budget,
        spaces=spaces,
        ranks=ranks,
        runs=runs,
        by_cost=by_cost,
        by_trials=by_trials,
        target=target,
        target_source=source,
        cost=cost,
        race=race,
        verdict=repeat_verdict(runs, spaces, repeat_looks(grouped), summary) if len(spaces) >= 2 else None,
    )
