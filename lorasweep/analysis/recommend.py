"""What earlier studies say about α for a new rank: ``lorasweep recommend``.

Every stored search study whose space varies α (``c`` or ``alpha`` searched) contributes one
point: the rank and α* (the α of its best complete trial), with that trial's LR. With two or more
distinct ranks the law ``α* = c·r^p`` is fitted (:func:`~lorasweep.analysis.law.fit_power_law`)
and evaluated at the asked rank, with a bootstrap interval; the LR proposed is the median LR of
the points (in the α spaces it is usually fixed). With less data it says so and why.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.law import LawFit, fit_power_law
from lorasweep.config import ExperimentConfig, SpaceConfig
from lorasweep.search.ablation import arm_of
from lorasweep.search.spaces import alpha_at_edge, searched
from lorasweep.store import Storage, TrialKind, TrialState


@dataclass(frozen=True)
class Source:
    experiment: str
    study: str
    task: str
    rank: int
    alpha_star: float
    lr: float
    value: float
    at_edge: bool  # α* at the edge of the range searched: the optimum may lie beyond it


@dataclass(frozen=True)
class Recommendation:
    rank: int
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    lr: float | None
    fit: LawFit | None
    sources: list[Source] = field(default_factory=list)
    reason: str | None = None  # why there is no recommendation

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "alpha_ci": list(self.alpha_ci) if self.alpha_ci else None,
            "lr": self.lr,
            "law": self.fit.as_dict() if self.fit else None,
            "sources": [s.__dict__ for s in self.sources],
            "reason": self.reason,
        }


def _alpha_space(space_config: dict[str, Any]) -> SpaceConfig | None:
    """The study's space if it varies α (c or α searched), else None."""
    try:
        space = SpaceConfig.model_validate(space_config)
    except ValueError:
        return None
    return space if {"c", "alpha"} & set(searched(space)) and space.matched is None else None


def sources(storage: Storage, task: str | None = None) -> list[Source]:
    """One point per stored search study that varied α (of task ``task`` when given)."""
    out = []
    for name in storage.experiment_names():
        record = storage.experiment(name)
        config = ExperimentConfig.model_validate(record.config)
        if task is not None and config.task.name != task:
            continue
        trials = storage.trials(record.id)
        for study in storage.studies(record.id):
            space = _alpha_space(study.space_config)
            if arm_of(study.space) is not None or space is None:
                continue
            done = [
                t
                for t in trials
                if t.study_id == study.id
                and t.kind == TrialKind.SEARCH
                and t.state == TrialState.COMPLETE
                and t.final_value is not None
            ]
            if not done:
                continue
            best = done[0]
            for t in done[1:]:
                if study.direction.better(t.final_value, best.final_value):  # type: ignore[arg-type]
                    best = t
            value = float(best.final_value)  # type: ignore[arg-type]
            edge = alpha_at_edge(space, study.rank, best.alpha)
            out.append(
                Source(name, study.optuna_study_name, config.task.name, study.rank, best.alpha, best.lr, value, edge)
            )
    return out


def recommend(storage: Storage, rank: int, task: str | None = None) -> Recommendation:
    points = sources(storage, task)
    about = f" for task {task}" if task else ""
    if not points:
        return Recommendation(
            rank, None, None, None, None, [], f"no stored study{about} searched alpha; run lorasweep rank-law first"
        )
    lr = statistics.median(s.lr for s in points)
    ranks = sorted({s.rank for s in points})
    if len(ranks) < 2:
        same = [s for s in points if s.rank == rank]
        reason = (
            f"alpha* is known at rank {ranks[0]} only ({len(points)} stud{'y' if len(points) == 1 else 'ies'}); "
            "a law needs two ranks or more: run lorasweep rank-law"
        )
        if same:  # the asked rank itself was searched: its α* is still the best guess
            alpha = math.exp(statistics.fmean(math.log(s.alpha_star) for s in same))
            return Recommendation(rank, alpha, None, lr, None, points, reason)
        return Recommendation(rank, None, None, lr, None, points, reason)
    fit = fit_power_law([s.rank for s in points], [s.alpha_star for s in points])
    return Recommendation(rank, fit.predict(rank), fit.predict_ci(rank), lr, fit, points)
