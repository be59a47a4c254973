"""Every trial against its effective step s·LR, with the s·LR each space searched.

Under AdamW the size of a LoRA update is set, to first order, by s·LR (DESIGN.md), so this is the
one axis on which trials of an LR search and an α search can be read side by side. The record
holds, per space, the trials that have a value (a complete trial's final value; a pruned or
diverged one's last value before it stopped) and each space's covered s·LR range per rank
(:func:`lorasweep.analysis.coverage.coverages`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorasweep.analysis.coverage import SpaceCoverage, coverages

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary
    from lorasweep.store import TrialRecord


def shown_value(t: TrialRecord) -> float | None:
    """The value a trial is drawn at: its final value, else the best it reached before stopping."""
    return t.final_value if t.final_value is not None else t.best_value


@dataclass(frozen=True, kw_only=True)
class EffectiveStepView:
    #: space → its trials that have a value, in trial order
    trials: dict[str, list[TrialRecord]] = field(repr=False)
    #: space → its searched s·LR per rank and its best's s·LR per rank
    coverage: dict[str, SpaceCoverage]

    def ranges(self, space: str) -> dict[int, tuple[float, float]]:
        c = self.coverage.get(space)
        return c.ranges if c is not None else {}

    def as_dict(self) -> dict[str, Any]:
        return {name: c.as_dict() for name, c in self.coverage.items()}


def effective_step_view(summary: ExperimentSummary) -> EffectiveStepView:
    return EffectiveStepView(
        trials={name: [t for t in s.trials if shown_value(t) is not None] for name, s in summary.spaces.items()},
        coverage=coverages(summary),
    )
