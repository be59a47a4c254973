"""The numbers every report shows, computed once from the store: the table, the JSON and the
HTML page all draw from :class:`ExperimentSummary`.

A space's best value is the best *final* value among its COMPLETE trials (what Optuna's
``best_value`` means); pruned, failed and diverged trials count in the cost but not as best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lorasweep.config import Direction, ExperimentConfig
from lorasweep.cost import best_so_far, cost_to_target, reaches, target_value
from lorasweep.store import (
    ExperimentRecord,
    ReportRecord,
    Storage,
    StudyRecord,
    TrialKind,
    TrialRecord,
    TrialState,
)


@dataclass(frozen=True)
class SpaceSummary:
    name: str
    best_value: float | None
    best_params: dict[str, Any]
    reached_target: bool  # its best is within the target of the best of all spaces
    n_trials: int
    counts: dict[TrialState, int]
    device_seconds: float
    wall_seconds: float
    cost_to_target: float | None
    optuna_studies: list[str]
    trials: list[TrialRecord] = field(repr=False)
    #: (cumulative device-seconds, best final value so far) after each finished trial
    best_so_far: list[tuple[float, float | None]] = field(repr=False)


@dataclass(frozen=True)
class ExperimentSummary:
    experiment: ExperimentRecord
    metric: str
    direction: Direction
    within: float
    target: float | None
    spaces: dict[str, SpaceSummary]
    reports: dict[int, list[ReportRecord]] = field(repr=False)  # trial id → its reports
    #: space → its seed re-runs (compare --seeds); not part of the search figures above
    seed_trials: dict[str, list[TrialRecord]] = field(default_factory=dict, repr=False)
    #: arm space (ablation_alpha, ablation_lr) → its points (lorasweep ablation)
    ablation_trials: dict[str, list[TrialRecord]] = field(default_factory=dict, repr=False)
    config: ExperimentConfig | None = field(default=None, repr=False)


def best_trial(trials: list[TrialRecord], direction: Direction) -> TrialRecord | None:
    """The complete trial with the best final value (what Optuna's ``best_trial`` is)."""
    best: TrialRecord | None = None
    for t in trials:
        if t.state != TrialState.COMPLETE or t.final_value is None:
            continue
        if best is None or direction.better(t.final_value, best.final_value):  # type: ignore[arg-type]
            best = t
    return best


def trial_params(t: TrialRecord) -> dict[str, Any]:
    """What a trial ran with: the sampled values and every derived LoRA number."""
    return {
        **t.params,
        "r": t.r,
        "alpha": t.alpha,
        "c": t.c,
        "lr": t.lr,
        "scaling": t.scaling,
        "effective_step": t.effective_step,
        "use_rslora": t.use_rslora,
    }


def summarize(storage: Storage, experiment: ExperimentRecord) -> ExperimentSummary:
    studies = storage.studies(experiment.id)
    every_trial = storage.trials(experiment.id)
    trials = [t for t in every_trial if t.kind == TrialKind.SEARCH]
    reports: dict[int, list[ReportRecord]] = {}
    for r in storage.reports(experiment.id):
        reports.setdefault(r.trial_id, []).append(r)
    config = ExperimentConfig.model_validate(experiment.config)
    direction, metric, within = config.metric.resolved_direction, config.metric.name.value, config.target.within

    by_space: dict[str, list[StudyRecord]] = {}
    space_of = {s.id: s.space for s in studies}
    for s in studies:
        by_space.setdefault(s.space, []).append(s)
    other: dict[TrialKind, dict[str, list[TrialRecord]]] = {TrialKind.SEEDS: {}, TrialKind.ABLATION: {}}
    for t in every_trial:
        if t.kind in other:
            other[t.kind].setdefault(space_of[t.study_id], []).append(t)
    if config.ablation is not None:  # the arms are not search spaces: no table rows of their own
        by_space = {k: v for k, v in by_space.items() if k not in other[TrialKind.ABLATION]}
    space_trials = {name: [t for t in trials if t.study_id in {s.id for s in ss}] for name, ss in by_space.items()}
    overall = direction.best(
        b.final_value for ts in space_trials.values() if (b := best_trial(ts, direction)) and b.final_value is not None
    )
    target = target_value(overall, within, direction) if overall is not None else None

    spaces: dict[str, SpaceSummary] = {}
    for name, ss in by_space.items():
        ts = space_trials[name]
        best = best_trial(ts, direction)
        finished = [
            (t.final_value if t.state == TrialState.COMPLETE else None, t.device_seconds)
            for t in ts
            if t.finished_at is not None
        ]
        spaces[name] = SpaceSummary(
            name=name,
            best_value=best.final_value if best else None,
            best_params=trial_params(best) if best else {},
            reached_target=target is not None and best is not None and reaches(best.final_value, target, direction),
            n_trials=len(ts),
            counts={state: sum(t.state == state for t in ts) for state in TrialState},
            device_seconds=sum(t.device_seconds for t in ts),
            wall_seconds=sum(s.wall_seconds for s in ss),
            cost_to_target=cost_to_target(finished, target, direction) if target is not None else None,
            optuna_studies=[s.optuna_study_name for s in ss],
            trials=ts,
            best_so_far=best_so_far(finished, direction),
        )
    return ExperimentSummary(
        experiment,
        metric,
        direction,
        within,
        target,
        spaces,
        reports,
        seed_trials=other[TrialKind.SEEDS],
        ablation_trials=other[TrialKind.ABLATION],
        config=config,
    )
