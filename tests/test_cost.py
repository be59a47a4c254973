from __future__ import annotations

import pytest

from lorasweep.config import Direction
from lorasweep.cost import cost_to_target, device_seconds, target_value


def test_target_value_is_within_a_fraction_of_best() -> None:
    assert target_value(0.9, 0.01, Direction.MAXIMIZE) == 0.9 - 0.009
    assert target_value(2.0, 0.05, Direction.MINIMIZE) == 2.1


def test_cost_counts_every_trial_until_the_first_that_reaches_the_target() -> None:
    trials = [(0.5, 10.0), (None, 3.0), (0.89, 5.0), (0.95, 7.0), (0.99, 100.0)]
    assert cost_to_target(trials, 0.89, Direction.MAXIMIZE) == 18.0
    assert cost_to_target(trials, 0.99, Direction.MAXIMIZE) == 125.0
    assert cost_to_target(trials, 0.999, Direction.MAXIMIZE) is None
    assert cost_to_target([(3.0, 1.0), (1.0, 2.0)], 1.5, Direction.MINIMIZE) == 3.0
    assert cost_to_target([(float("nan"), 1.0), (1.0, 2.0)], 1.5, Direction.MINIMIZE) == 3.0


def test_device_seconds_counts_the_device_share() -> None:
    assert device_seconds(10.0, 0.0) == 10.0  # CPU: one slot
    assert device_seconds(10.0, 0.5) == 5.0  # half a GPU
    assert device_seconds(10.0, 2.0) == 20.0


def test_cost_to_target_counts_the_elapsed_time_of_trials_still_running() -> None:
    from lorasweep.cost import TimedRun, cost_to_target_timed

    runs = [
        TimedRun(value=0.95, device_seconds=10.0, started=0.0, finished=10.0),  # reaches the target at t = 10
        TimedRun(
            value=0.5, device_seconds=18.0, started=2.0, finished=20.0
        ),  # running then: 8 of its 18 s were spent by t = 10
        TimedRun(value=None, device_seconds=4.0, started=3.0, finished=7.0),  # pruned before: counts in full
        TimedRun(value=0.99, device_seconds=5.0, started=12.0, finished=17.0),  # started after: not counted
    ]
    assert cost_to_target_timed(runs, 0.9, Direction.MAXIMIZE) == pytest.approx(10.0 + 8.0 + 4.0)
    assert cost_to_target_timed(runs, 0.999, Direction.MAXIMIZE) is None
    # one after another, the timed rule is the running sum (the untimed rule's answer)
    sequential = [
        TimedRun(value=0.5, device_seconds=3.0, started=0.0, finished=3.0),
        TimedRun(value=None, device_seconds=2.0, started=3.0, finished=5.0),
        TimedRun(value=0.95, device_seconds=4.0, started=5.0, finished=9.0),
        TimedRun(value=0.99, device_seconds=6.0, started=9.0, finished=15.0),  # after the target: not counted
    ]
    assert cost_to_target_timed(sequential, 0.9, Direction.MAXIMIZE) == pytest.approx(9.0)
    untimed = [(r.value, r.device_seconds) for r in sequential]
    assert cost_to_target(untimed, 0.9, Direction.MAXIMIZE) == pytest.approx(9.0)
