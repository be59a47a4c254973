"""Early stopping per space: the trials the scheduler stopped and the rung (step) each stopped
at, over every repeated search (numbers from :mod:`lorasweep.analysis.pruning`)."""

from __future__ import annotations

from typing import Any

from lorasweep.analysis.pruning import Pruning, pruning
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Row, Section, register


@register
class PruningSection(Section[dict[str, Pruning]]):
    name = "pruning"
    title = "Early stopping"
    order = 22

    def compute(self, summary: ExperimentSummary) -> dict[str, Pruning] | None:
        return pruning(summary)

    def json(self, summary: ExperimentSummary, data: dict[str, Pruning]) -> dict[str, Any]:
        return {"early_stopping": {name: p.as_dict() for name, p in data.items()}}

    def rows(self, summary: ExperimentSummary, data: dict[str, Pruning]) -> list[Row]:
        every = " (all repeats)" if any(len(r) > 1 for r in summary.repeat_trials.values()) else ""
        return [
            Row(
                label=f"Stopped early, by step{every}",
                cells={
                    name: [f"{p.pruned} of {p.n_trials}"] + [f"at step {step}: {n}" for step, n in p.at.items()]
                    for name, p in data.items()
                },
            )
        ]
