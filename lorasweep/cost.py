"""Search cost: the one place that says what a device-second is and what reaching a target costs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lorasweep.config import Direction


def device_seconds(elapsed_s: float, gpus_per_trial: float) -> float:
    """Device time a trial used: wall time × the share of devices it held.

    On a GPU the share is ``gpus_per_trial`` (0.5 when two trials share one GPU); on a CPU-only
    run a trial holds one compute slot, so its device-seconds are its wall seconds.
    """
    return elapsed_s * (gpus_per_trial if gpus_per_trial > 0 else 1.0)


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
    """Device-seconds spent until the best value so far first reaches ``target`` (None if never)."""
    for spent, best in best_so_far(values_and_costs, direction):
        if reaches(best, target, direction):
            return spent
    return None
