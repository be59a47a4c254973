"""The finding a report opens with, as data: which space reached the better value in the search and
by how much, what evidence stands behind it (one search seed, or the seed re-runs' verdict) and at
what search cost. The words are written elsewhere (lorasweep/report/sections/finding.py); this
record only holds what they may say, so no output can name a winner the seed verdict does not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorasweep.config import Direction

if TYPE_CHECKING:
    from lorasweep.analysis.ablation import Ablation
    from lorasweep.analysis.repeats import RepeatComparison
    from lorasweep.analysis.seeds import SeedComparison
    from lorasweep.analysis.summary import ExperimentSummary


class Evidence(enum.StrEnum):
    NONE = "none"  # no space has a complete trial
    ONE_SPACE = "one_space"  # nothing to compare: one space
    ONE_SEARCH_SEED = "one_search_seed"  # spaces compared, no seed re-runs: no verdict possible
    SEEDS = "seeds"  # the seed re-runs' verdict (which may be "no verdict")
    ABLATION = "ablation"  # a matched-step ablation, not a comparison of searches


@dataclass(frozen=True, kw_only=True)
class SpaceOutcome:
    name: str
    best_value: float | None
    n_trials: int
    device_seconds: float
    cost_to_target: float | None


@dataclass(frozen=True, kw_only=True)
class Finding:
    metric: str
    direction: Direction
    evidence: Evidence
    spaces: list[SpaceOutcome]
    #: the space whose search reached the better best value, and the next one (None: a tie, or no value)
    leader: str | None = None
    runner_up: str | None = None
    #: leader's best minus runner-up's, in the metric's favour (always >= 0); 0.0 for a tie
    margin: float | None = None
    tied: list[str] | None = None  # spaces that share the best value when it is a tie
    target: float | None = None
    within: float | None = None
    #: the seed re-runs (Evidence.SEEDS): the verdict names ``winner`` only when its sign test decides
    seeds: SeedComparison | None = None
    ablation: Ablation | None = None
    #: the repeated searches (``compare --repeats K``, K ≥ 2): the finding leads with them
    repeats: RepeatComparison | None = None

    @property
    def winner(self) -> str | None:
        """The space the seed verdict names better; None without re-runs or without a clear verdict."""
        return self.seeds.winner if self.seeds is not None else None

    @property
    def n_seeds(self) -> int:
        """The new seeds the seed verdict pairs (0 without re-runs)."""
        return 0 if self.seeds is None else self.seeds.n_seeds

    def as_dict(self) -> dict[str, Any]:
        return {
            "evidence": self.evidence.value,
            "leader": self.leader,
            "runner_up": self.runner_up,
            "margin": self.margin,
            "tied": self.tied,
            "winner": self.winner,
            "n_seeds": self.n_seeds,
            "search_device_seconds": {s.name: s.device_seconds for s in self.spaces},
            "cost_to_target": {s.name: s.cost_to_target for s in self.spaces},
            "n_repeats": self.repeats.repeats if self.repeats is not None else 1,
            "repeat_winner": self.repeat_winner,
        }

    @property
    def repeat_winner(self) -> str | None:
        """The space the repeat-level verdict names better; None without repeats or without one."""
        verdict = self.repeats.verdict if self.repeats is not None else None
        return verdict.winner if verdict is not None else None


def finding(summary: ExperimentSummary) -> Finding:
    """What the search and the seed re-runs (or the ablation) support, from the summary."""
    from lorasweep.analysis.ablation import ablation
    from lorasweep.analysis.repeats import repeat_comparison
    from lorasweep.analysis.seeds import seed_comparison

    metric, direction = summary.metric, summary.direction
    abl = ablation(summary)
    if abl is not None:
        return Finding(metric=metric, direction=direction, evidence=Evidence.ABLATION, spaces=[], ablation=abl)
    outcomes = [
        SpaceOutcome(
            name=s.name,
            best_value=s.best_value,
            n_trials=s.n_trials,
            device_seconds=s.device_seconds,
            cost_to_target=s.cost_to_target,
        )
        for s in summary.spaces.values()
    ]
    common: dict[str, Any] = {"target": summary.target, "within": summary.within}
    valued = [o for o in outcomes if o.best_value is not None]
    if not valued:
        return Finding(metric=metric, direction=direction, evidence=Evidence.NONE, spaces=outcomes, **common)
    seeds = seed_comparison(summary)
    if len(outcomes) < 2:
        evidence = Evidence.ONE_SPACE
    else:
        evidence = Evidence.SEEDS if seeds is not None else Evidence.ONE_SEARCH_SEED
    ranked = sorted(valued, key=lambda o: o.best_value, reverse=direction is Direction.MAXIMIZE)  # type: ignore[arg-type,return-value]
    best = ranked[0].best_value
    tied = [o.name for o in ranked if o.best_value == best]
    leader = ranked[0].name if len(tied) == 1 else None
    runner_up = ranked[1].name if len(ranked) > 1 and leader is not None else None
    margin = abs(best - ranked[1].best_value) if len(ranked) > 1 else None  # type: ignore[operator]
    return Finding(
        metric=metric,
        direction=direction,
        evidence=evidence,
        spaces=outcomes,
        leader=leader,
        runner_up=runner_up,
        margin=margin,
        tied=tied if len(tied) > 1 else None,
        seeds=seeds,
        repeats=repeat_comparison(summary),
        **common,
    )
