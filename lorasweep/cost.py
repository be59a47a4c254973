"""Search cost: the one place that says what a device-second is, how long a space's search ran on
the wall clock, what a trial still running has cost so far, and what reaching a target costs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lorasweep.config import Direction


def device_seconds(elapsed_s: float, gpus_per_trial: float) -> float:
    """Device time a trial used: wall time × the share of devices it held.

    On a GPU the share is ``gpus_per_trial`` (0.5 when two trials share one GPU); on a CPU-only
    run a trial holds one compute slot, so its device-seconds are its wall seconds.
    """
    return elapsed_s * (gpus_per_trial if gpus_per_trial > 0 else 1.0)


def running_device_seconds(elapsed_s: float, gpus_per_trial: float) -> float:
    """What a trial still running has cost so far: its elapsed wall time (never negative) on its
    share of the devices (:func:`device_seconds`). A report taken mid-run charges it this."""
    return device_seconds(max(0.0, elapsed_s), gpus_per_trial)


def busy_seconds(spans: Sequence[tuple[float, float]]) -> float:
    """Wall seconds during which at least one of ``spans`` (start, end) ran: the length of their
    union. A space's search wall time is this over its own trials, so trials of other spaces that
    ran beside them (one shared Tune run) are not charged to it, and overlapping trials of its
    own (several ranks at once) count once."""
    total, end = 0.0, -math.inf
    for start, stop in sorted(spans):
        if stop <= start:
            continue
        if start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def worst_value(direction: Direction) -> float:
    """The value that is worse than any: what a run that found nothing counts as in a median."""
    return -math.inf if direction is Direction.MAXIMIZE else math.inf


def derived_target(values: Sequence[float | None], direction: Direction) -> float | None:
    """The median of ``values`` (a run with none counts as the worst), as an observed value; None
    when not half of them have one. Used for targets that come from many runs (repeated searches,
    seed re-runs), never from one search's best."""
    if not values:
        return None
    arr = np.array([v if v is not None else worst_value(direction) for v in values], dtype=float)
    q = float(np.quantile(arr, 0.5, method="inverted_cdf"))
    return q if math.isfinite(q) else None


def target_value(best: float, within: float, direction: Direction) -> float:
    """The value that counts as "within ``within`` (a fraction) of ``best``"."""
    margin = abs(best) * within
    return best - margin if direction == Direction.MAXIMIZE else best + margin


def reaches(value: float | None, target: float, direction: Direction) -> bool:
    if value is None or not math.isfinite(value):
        return False
    return value == target or direction.better(value, target)


def best_so_far(
    values_and_costs: Sequence[tuple[float | None, float]], direction: Direction
) -> list[tuple[float, float | None]]:
    """``(cumulative device-seconds, best value so far)`` after each trial.

    ``values_and_costs`` holds ``(value or None, device-seconds)`` per trial in the order the
    trials finished; every trial's cost counts, whatever its state; None values never count as best.
    """
    curve: list[tuple[float, float | None]] = []
    spent, best = 0.0, None
    for value, cost in values_and_costs:
        spent += cost
        if value is not None and math.isfinite(value) and (best is None or direction.better(value, best)):
            best = value
        curve.append((spent, best))
    return curve


def cost_to_target(
    values_and_costs: Sequence[tuple[float | None, float]], target: float, direction: Direction
) -> float | None:
    """:func:`cost_to_target_timed` for trials that ran one after another, in this order."""
    runs, clock = [], 0.0
    for value, cost in values_and_costs:
        runs.append(TimedRun(value=value, device_seconds=cost, started=clock, finished=clock + cost))
        clock += cost
    return cost_to_target_timed(runs, target, direction)


@dataclass(frozen=True, kw_only=True)
class TimedRun:
    """One trial for the cost to a target: its value (None unless complete), its device-seconds and
    when it ran (seconds on one clock; ``finished`` None while it runs). ``share``: the devices a
    running trial holds (its device-seconds per wall second), so that it is charged its elapsed
    time at any moment; None: a running trial is not charged."""

    value: float | None
    device_seconds: float
    started: float
    finished: float | None
    share: float | None = None


def cost_to_target_timed(runs: Sequence[TimedRun], target: float, direction: Direction) -> float | None:
    """Device-seconds spent until the best value first reaches ``target`` (None if never), on the
    clock: trials that finished by then count in full, whatever their state; trials still running
    then count the elapsed share of their device time (with concurrent trials, that time was spent
    too). The same rule for every space, so concurrency cannot favour one."""
    done = sorted((r for r in runs if r.finished is not None), key=lambda r: r.finished)  # type: ignore[arg-type,return-value]
    best: float | None = None
    for run in done:
        if run.value is not None and math.isfinite(run.value) and (best is None or direction.better(run.value, best)):
            best = run.value
        if reaches(best, target, direction):
            return _spent_by(runs, run.finished)  # type: ignore[arg-type]
    return None


def _spent_by(runs: Sequence[TimedRun], moment: float) -> float:
    spent = 0.0
    for r in runs:
        if r.started >= moment:
            continue
        if r.finished is not None and r.finished <= moment:
            spent += r.device_seconds
        elif r.finished is not None and r.finished > r.started:
            spent += r.device_seconds * (moment - r.started) / (r.finished - r.started)
        elif r.finished is None and r.share is not None:  # still running: its elapsed time by then
            spent += r.share * (moment - r.started)
    return spent
