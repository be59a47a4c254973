"""One repeated search's outcome, and the cost to a target over repeats.

- **the best per repeat**, paired by repeat (:class:`SearchRepeat`): its best, its best so far on
  its own clock, its cost to the target;
- **cost to target**: per repeat the device-seconds until its best first reached the target; a
  repeat that never did is censored at the device-seconds it spent (its budget), not dropped and
  never free. Per space: how many reached it and the Kaplan–Meier median with its 95 % interval
  (``scipy.stats.ecdf`` on ``CensoredData``, log-log interval, the median's limits where the
  interval's bounds cross 1/2, as Brookmeyer and Crowley; :func:`cost_to_target_km`); and which
  space reached it first, repeat by repeat (:class:`TargetRace`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lorasweep.analysis.summary import best_trial
from lorasweep.config import Direction
from lorasweep.cost import TimedRun, best_so_far, cost_to_target_timed
from lorasweep.store import TrialRecord, TrialState

__all__ = [
    "KM_CONFIDENCE",
    "CostToTarget",
    "SearchRepeat",
    "TargetRace",
    "cost_to_target_km",
    "judged_value",
    "search_repeat",
    "target_race",
]

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
