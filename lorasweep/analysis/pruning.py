"""Early stopping, per space: how many trials the scheduler (ASHA) stopped and at which rung
(the step they stopped at), over every repeated search. A space whose trials start slowly (α
scaling at a small LR can) is judged at its early rungs before it catches up: these counts show
whether that happened to one space more than the other (``benchmarks/asha_vs_fifo.py`` measures
whether it changes the winner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorasweep.store import TrialState

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary

__all__ = ["Pruning", "pruning"]


@dataclass(frozen=True, kw_only=True)
class Pruning:
    """One space's early stops: ``at`` maps the step a trial was stopped at to how many were."""

    n_trials: int
    pruned: int
    at: dict[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_trials": self.n_trials,
            "pruned": self.pruned,
            "pruned_at_step": {str(k): v for k, v in self.at.items()},
        }


def pruning(summary: ExperimentSummary) -> dict[str, Pruning] | None:
    """Per space, its pruned trials by the step they stopped at (every repeat); None when no
    trial of any space was stopped early."""
    out: dict[str, Pruning] = {}
    for name, space in summary.spaces.items():
        by_repeat = summary.repeat_trials.get(name)
        trials = [t for ts in by_repeat.values() for t in ts] if by_repeat else space.trials
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        at: dict[int, int] = {}
        for t in pruned:
            at[t.steps] = at.get(t.steps, 0) + 1
        out[name] = Pruning(n_trials=len(trials), pruned=len(pruned), at=dict(sorted(at.items())))
    return out if any(p.pruned for p in out.values()) else None
