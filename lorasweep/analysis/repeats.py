"""Repeated searches compared as searches (``compare --repeats K``): anytime curves with bands,
the best each repeat found paired by repeat, and the cost to a target as a distribution.

One search per space answers "is the config A found better than the config B found?", which
mixes the method with that one search's luck. Repeating each search over sampler seeds (repeat
``i`` of every space shares its seed, so repeats pair) answers the question users bring: does
searching this space find a better adapter, for less search? As HPO benchmarks show it:

- **anytime**: each repeat's best value so far against its own cumulative device-seconds and
  against its number of finished trials; per space the median over repeats with the
  interquartile range (:func:`band`). A repeat that has no complete trial yet counts as the worst
  outcome there (it has found nothing), never as missing, so the median does not drift up as
  failing repeats drop out;
- **the best per repeat**, paired by repeat (:class:`SearchRepeat`);
- **cost to target**: per repeat the device-seconds until its best first reached the target; a
  repeat that never did is censored at the device-seconds it spent (its budget), not dropped and
  never free. Per space: how many reached it and the Kaplan–Meier median with its 95 % interval
  (``scipy.stats.ecdf`` on ``CensoredData``, log-log interval, the median's limits where the
  interval's bounds cross 1/2, as Brookmeyer and Crowley); and which space reached it first,
  repeat by repeat (:class:`TargetRace`).

The target is the user's (``target.value``) or, when not set, the median of the best values all
repeats of all spaces found (so about half the searches reach it): stated with the figures.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lorasweep.analysis.summary import best_trial
from lorasweep.config import Direction
from lorasweep.cost import TimedRun, best_so_far, cost_to_target_timed, derived_target, worst_value
from lorasweep.store import TrialRecord, TrialState

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary

__all__ = [
    "BAND_QUANTILES",
    "Band",
    "CostToTarget",
    "RepeatComparison",
    "SearchRepeat",
    "TargetRace",
    "band",
    "cost_to_target_km",
    "derived_target",
    "repeat_comparison",
    "search_repeat",
    "target_race",
]

#: The band drawn around the median over repeats: the interquartile range.
BAND_QUANTILES = (0.25, 0.5, 0.75)
#: Points on the device-seconds axis of a band (the trials axis has one per trial).
BAND_POINTS = 120
#: Coverage of the Kaplan–Meier median's interval.
KM_CONFIDENCE = 0.95


@dataclass(frozen=True, kw_only=True)
class SearchRepeat:
    """One repeated search: a space at a rank, repeat ``repeat``.

    ``value`` is what its best trial is judged on (``value_label`` of :class:`RepeatComparison`);
    None when it completed no trial. ``by_cost``: ``(cumulative device-seconds, best so far)``
    after each of its finished trials, in the order they finished; ``budget`` the device-seconds
    it spent in all; ``cost_to_target`` None when it never reached the target."""

    space: str
    rank: int
    repeat: int
    n_trials: int
    best: TrialRecord | None
    value: float | None
    budget: float
    by_cost: tuple[tuple[float, float | None], ...]
    cost_to_target: float | None

    @property
    def reached(self) -> bool:
        return self.cost_to_target is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "rank": self.rank,
            "repeat": self.repeat,
            "n_trials": self.n_trials,
            "best_value": self.value,
            "best_trial": self.best.id if self.best is not None else None,
            "device_seconds": self.budget,
            "reached_target": self.reached,
            "cost_to_target": self.cost_to_target,
        }


@dataclass(frozen=True, kw_only=True)
class Band:
    """The median over repeats with its band (``BAND_QUANTILES``) at each ``x``; None where not
    yet half the repeats had a value (the median is "nothing found yet")."""

    x: tuple[float, ...]
    lo: tuple[float | None, ...]
    median: tuple[float | None, ...]
    hi: tuple[float | None, ...]
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "lo": list(self.lo), "median": list(self.median), "hi": list(self.hi), "n": self.n}


@dataclass(frozen=True, kw_only=True)
class CostToTarget:
    """One space's (at one rank) device-seconds to the target over its repeats: how many reached
    it, and the Kaplan–Meier median with its interval; ``median`` None when fewer than half
    reached it (the median is beyond the budget), ``hi`` None when the interval is open above."""

    n: int
    reached: int
    median: float | None
    lo: float | None
    hi: float | None
    #: the largest budget among the repeats that never reached it (their cost is at least that)
    censored_at: float | None
    method: str = "Kaplan–Meier median, 95 % log-log interval (scipy.stats.ecdf); not reached: censored at its budget"

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "reached": self.reached,
            "median": self.median,
            "ci": [self.lo, self.hi],
            "censored_at": self.censored_at,
            "method": self.method,
        }


@dataclass(frozen=True, kw_only=True)
class TargetRace:
    """Repeat by repeat (the same repeat of two spaces), which reached the target on fewer
    device-seconds: a repeat that reached it beats one that did not; two that did not tie."""

    a: str
    b: str
    first_a: int
    first_b: int
    ties: int
    neither: int

    @property
    def n(self) -> int:
        return self.first_a + self.first_b + self.ties

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": {self.a: self.first_a, self.b: self.first_b},
            "ties": self.ties,
            "neither_reached": self.neither,
            "n": self.n,
        }

    def sentence(self) -> str:
        """E.g. ``lora_alpha reached the target first in 7 of 10 repeats, lr_only in 2 (1 tie: neither reached it)``."""
        lead, other = (self.a, self.b) if self.first_a >= self.first_b else (self.b, self.a)
        first = {self.a: self.first_a, self.b: self.first_b}
        parts = []
        if self.neither:
            parts.append(f"neither reached it in {self.neither}")
        if self.ties - self.neither:
            parts.append(f"both on equal device-seconds in {self.ties - self.neither}")
        ties = f" ({'; '.join(parts)})" if parts else ""
        return f"{lead} reached the target first in {first[lead]} of {self.n} repeats, {other} in {first[other]}{ties}"


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


def _finished_in_order(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    done = [t for t in trials if t.finished_at is not None]
    return sorted(done, key=lambda t: (t.finished_at, t.id))  # type: ignore[arg-type,return-value]


def judged_value(t: TrialRecord) -> float | None:
    """What a repeat's best trial is judged on: its final eval value (the search selected it on
    that split, so it is labelled as the search's own value)."""
    return t.final_value


def search_repeat(
    space: str, rank: int, repeat: int, trials: Sequence[TrialRecord], direction: Direction, target: float | None
) -> SearchRepeat:
    """One repeat's outcome: its best, its best-so-far on its own clock, its cost to ``target``."""
    done = _finished_in_order(trials)
    values = [(t.final_value if t.state == TrialState.COMPLETE else None, t.device_seconds) for t in done]
    best = best_trial(list(trials), direction)
    timed = [
        TimedRun(
            value=t.final_value if t.state == TrialState.COMPLETE else None,
            device_seconds=t.device_seconds,
            started=t.started_at.timestamp(),
            finished=t.finished_at.timestamp() if t.finished_at is not None else None,
        )
        for t in trials
    ]
    return SearchRepeat(
        space=space,
        rank=rank,
        repeat=repeat,
        n_trials=len(trials),
        best=best,
        value=judged_value(best) if best is not None else None,
        budget=sum(t.device_seconds for t in trials),
        by_cost=tuple(best_so_far(values, direction)),
        cost_to_target=cost_to_target_timed(timed, target, direction) if target is not None else None,
    )


def _worst(direction: Direction) -> float:
    return worst_value(direction)


def _quantiles(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """``BAND_QUANTILES`` of ``values`` (the worst infinity where a repeat has nothing yet), taken
    as observed values (no interpolation across an infinity); an infinite quantile is None. For a
    minimized metric the lower band is the better side, so quantiles are of the values as they
    are: lo ≤ median ≤ hi in the metric's units either way."""
    qs = np.quantile(values, BAND_QUANTILES, method="inverted_cdf")
    out = [float(q) if math.isfinite(q) else None for q in qs]
    return out[0], out[1], out[2]


def _step_at(curve: Sequence[tuple[float, float | None]], x: float, worst: float) -> float:
    """The best value a repeat had after spending ``x`` (worst before it had one)."""
    value = worst
    for spent, best in curve:
        if spent > x:
            break
        if best is not None:
            value = best
    return value


def band(curves: Sequence[Sequence[tuple[float, float | None]]], xs: Sequence[float], direction: Direction) -> Band:
    """The median and interquartile band over ``curves`` (each ``(x, best so far)`` after each
    finished trial, x increasing) at every point of ``xs``."""
    worst = _worst(direction)
    lo, med, hi = [], [], []
    for x in xs:
        values = np.array([_step_at(c, x, worst) for c in curves], dtype=float)
        q = _quantiles(values) if len(values) else (None, None, None)
        lo.append(q[0])
        med.append(q[1])
        hi.append(q[2])
    return Band(x=tuple(float(x) for x in xs), lo=tuple(lo), median=tuple(med), hi=tuple(hi), n=len(curves))


def _cost_grid(curves: Sequence[Sequence[tuple[float, float | None]]]) -> list[float]:
    """Device-seconds at which the bands are read: every point where some repeat's best could
    change, thinned to ``BAND_POINTS`` evenly spaced ones (the last kept)."""
    xs = sorted({c for curve in curves for c, _ in curve})
    if len(xs) <= BAND_POINTS:
        return xs
    top = xs[-1]
    return sorted({top * (i + 1) / BAND_POINTS for i in range(BAND_POINTS)} | {top})


def cost_to_target_km(runs: Sequence[SearchRepeat]) -> CostToTarget:
    """How many of ``runs`` reached the target, and the Kaplan–Meier median of their cost with
    its interval; the runs that did not reach it are right-censored at their budget."""
    from scipy import stats

    times = np.array([r.cost_to_target if r.reached else r.budget for r in runs], dtype=float)
    events = np.array([r.reached for r in runs], dtype=bool)
    censored = [r.budget for r in runs if not r.reached]
    n, reached = len(runs), int(events.sum())
    if reached == 0:
        return CostToTarget(n=n, reached=0, median=None, lo=None, hi=None, censored_at=max(censored, default=None))
    data = stats.CensoredData(uncensored=times[events], right=times[~events])
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings():  # where S = 1 the log-log interval is undefined: no bound there, as meant
        warnings.filterwarnings("ignore", message="The confidence interval is undefined", category=RuntimeWarning)
        ci = sf.confidence_interval(KM_CONFIDENCE, method="log-log")

    def crossing(quantiles: np.ndarray, probabilities: np.ndarray) -> float | None:
        """The first time at which a survival curve is at or below 1/2."""
        below = np.flatnonzero(np.nan_to_num(probabilities, nan=1.0) <= 0.5)
        return float(quantiles[below[0]]) if below.size else None

    return CostToTarget(
        n=n,
        reached=reached,
        median=crossing(sf.quantiles, sf.probabilities),
        lo=crossing(ci.low.quantiles, ci.low.probabilities),
        hi=crossing(ci.high.quantiles, ci.high.probabilities),
        censored_at=max(censored, default=None),
    )


def target_race(a: str, b: str, runs_a: Sequence[SearchRepeat], runs_b: Sequence[SearchRepeat]) -> TargetRace:
    """Which of the same repeat of spaces ``a`` and ``b`` reached the target on fewer device-seconds."""
    by_a = {r.repeat: r for r in runs_a}
    by_b = {r.repeat: r for r in runs_b}
    first_a = first_b = ties = neither = 0
    for i in sorted(by_a.keys() & by_b.keys()):
        ra, rb = by_a[i], by_b[i]
        if not ra.reached and not rb.reached:
            ties += 1
            neither += 1
        elif ra.reached and (not rb.reached or ra.cost_to_target < rb.cost_to_target):  # type: ignore[operator]
            first_a += 1
        elif rb.reached and (not ra.reached or rb.cost_to_target < ra.cost_to_target):  # type: ignore[operator]
            first_b += 1
        else:
            ties += 1
    return TargetRace(a=a, b=b, first_a=first_a, first_b=first_b, ties=ties, neither=neither)


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
        adds_units="lorasweep compare --resume --repeats K adds them",
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
            by_cost[key] = band(curves, _cost_grid(curves), direction)
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
