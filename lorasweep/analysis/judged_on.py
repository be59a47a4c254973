"""What the verdict is judged on: how the task's test split was made, and each space's seed
re-runs (and ablation points) measured on it.

The search selects its configs on the eval split, so its own best value is an eval value and
stays labelled as such; the re-runs of ``compare --seeds`` and the points of ``lorasweep ablation``
also evaluate the test split once, at their end (``trials.test_value``). A task whose kind has no
test split, or an experiment stored before test splits existed, has no test values: that is said.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from lorasweep.analysis.seeds import verdict_value
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.store import TrialRecord

__all__ = ["JudgedOn", "judged_on", "tested_value"]


def tested_value(trial: TrialRecord) -> float | None:
    """A trial's value of the experiment's metric on the test split: stored for a seed re-run or
    an ablation point that completed; None otherwise (a search trial is never evaluated there)."""
    return verdict_value(trial, on_test=True)


@dataclass(frozen=True, kw_only=True)
class JudgedOn:
    """How the test split was made, and per space the test values of its seed re-runs."""

    how: str  # e.g. "held out 200 rows of train with data_seed 0" (the task's test_source())
    n_eval: int  # the eval examples the search selected on
    reruns: dict[str, list[float]]  # space → test values of its re-runs that have one
    n_reruns: dict[str, int]  # space → its re-runs, with or without a test value
    n_ablation: int  # ablation points with a test value

    def median(self, space: str) -> float | None:
        values = self.reruns.get(space) or []
        return statistics.median(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {"how": self.how, "n_eval": self.n_eval, "n_ablation_tested": self.n_ablation}


def _values(trials: list[TrialRecord]) -> list[float]:
    return [v for t in trials if (v := tested_value(t)) is not None]


def judged_on(summary: ExperimentSummary) -> JudgedOn | None:
    """The experiment's test split and its re-runs' test values (None: its config is not known)."""
    if summary.config is None:
        return None
    task = summary.config.task
    reruns = {name: _values(trials) for name, trials in summary.seed_trials.items()}
    ablation = [v for trials in summary.ablation_trials.values() for v in _values(trials)]
    return JudgedOn(
        how=task.test_source(),
        n_eval=task.n_eval,
        reruns=reruns,
        n_reruns={name: len(trials) for name, trials in summary.seed_trials.items()},
        n_ablation=len(ablation),
    )
