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


def cost_to_target(
    values_and_costs: Sequence[tuple[float | None, float]], target: float, direction: Direction
) -> float | None:
    """Device-seconds spent, in finishing order, until the first trial reaches ``target``.

    ``values_and_costs`` holds ``(final value or None, device-seconds)`` per trial in the order the
    trials finished; every trial's cost counts, whatever its state. None if never reached.
    """
    spent = 0.0
    for value, cost in values_and_costs:
        spent += cost
        if value is None or not math.isfinite(value):
            continue
        if (value >= target) if direction == Direction.MAXIMIZE else (value <= target):
            return spent
    return None
