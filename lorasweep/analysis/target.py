"""The target a search's cost is measured to: never one search's own best.

"Device-seconds until within 1 % of the best" measured against the leader's single-seed best is a
target one lucky trial sets: with two equal spaces the runner-up reads "not reached" in 25–60 % of
searches. The target here comes from outside any one search, in this order:

1. ``target.value`` in the experiment (the user's);
2. with repeated searches (``compare --repeats K``), the median of the best values all searches
   found (:func:`lorasweep.cost.derived_target`, as the repeats section states it);
3. with seed re-runs (``compare --seeds N``), the median of every re-run's value, all spaces
   pooled (a failed or diverged re-run counts as the worst): what the chosen configs reach on a
   typical new seed;
4. none: the cost to a target is not reported, and the report says how to get one.

A search that never reached it has a cost of *more than* what it spent: censored at its budget
(see :func:`lorasweep.analysis.repeat_outcomes.cost_to_target_km` for the Kaplan–Meier median over
repeats), never "free" and never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lorasweep.config import Direction, ExperimentConfig
from lorasweep.cost import derived_target
from lorasweep.store import TrialRecord, TrialState

__all__ = ["NO_TARGET", "CostTarget", "cost_target"]

NO_TARGET = "none: set target.value in the experiment, or re-run seeds (compare --seeds N) or searches (--repeats K)"


@dataclass(frozen=True, kw_only=True)
class CostTarget:
    """The target value (None: no target) and where it came from, in words."""

    value: float | None
    source: str


def _best(trials: Sequence[TrialRecord], direction: Direction) -> float | None:
    values = [t.final_value for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]
    return direction.best(values) if values else None


def cost_target(
    config: ExperimentConfig | None,
    direction: Direction,
    seed_trials: Mapping[str, Sequence[TrialRecord]],
    repeat_trials: Mapping[str, Mapping[int, Sequence[TrialRecord]]],
) -> CostTarget:
    """The target of the cost to a target (see the module docstring for the order)."""
    user = config.target.value if config is not None else None
    if user is not None:
        return CostTarget(value=float(user), source="target.value in the experiment")
    if any(len(by) >= 2 for by in repeat_trials.values()):
        searches: dict[tuple[str, int, int], list[TrialRecord]] = {}
        for space, by in repeat_trials.items():
            for i, trials in by.items():
                for t in trials:
                    searches.setdefault((space, t.r, i), []).append(t)
        bests = [_best(ts, direction) for ts in searches.values()]
        value = derived_target(bests, direction)
        if value is not None:
            return CostTarget(value=value, source=f"the median of the best values all {len(bests)} searches found")
    reruns = [t for ts in seed_trials.values() for t in ts if t.finished_at is not None]
    if reruns:
        values = [t.final_value if t.state == TrialState.COMPLETE else None for t in reruns]
        value = derived_target(values, direction)
        if value is not None:
            return CostTarget(
                value=value,
                source=f"the median value of the {len(reruns)} seed re-runs (all spaces): what the chosen configs "
                "reach on a typical new seed",
            )
    return CostTarget(value=None, source=NO_TARGET)
