"""The numbers every report shows, computed once from the store: the table, the JSON and the
HTML page all draw from :class:`ExperimentSummary`.

A space's best value is the best *final* value among its COMPLETE trials (what Optuna's
``best_value`` means); pruned, failed and diverged trials count in the cost but not as best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lorasweep.config import Direction
from lorasweep.cost import cost_to_target, target_value
from lorasweep.store import ExperimentRecord, ReportRecord, Storage, StudyRecord, TrialRecord, TrialState


@dataclass(frozen=True)
class SpaceSummary:
    name: str
    best_value: float | None
    best_params: dict[str, Any]
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


def _better(a: float, b: float, direction: Direction) -> bool:
    return a > b if direction == Direction.MAXIMIZE else a < b


def best_trial(trials: list[TrialRecord], direction: Direction) -> TrialRecord | None:
    best: TrialRecord | None = None
    for t in trials:
        if (
            t.state == TrialState.COMPLETE
            and t.final_value is not None
            and (
                best is None or _better(t.final_value, best.final_value, direction)  # type: ignore[arg-type]
            )
        ):
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
    trials = storage.trials(experiment.id)
    reports: dict[int, list[ReportRecord]] = {}
    for r in storage.reports(experiment.id):
        reports.setdefault(r.trial_id, []).append(r)
    config = experiment.config
    direction = Direction(studies[0].direction if studies else config["metric"]["direction"] or "maximize")
    metric = studies[0].metric if studies else config["metric"]["name"]
    within = float(config["target"]["within"])

    by_space: dict[str, list[StudyRecord]] = {}
    for s in studies:
        by_space.setdefault(s.space, []).append(s)
    space_trials = {name: [t for t in trials if t.study_id in {s.id for s in ss}] for name, ss in by_space.items()}
    bests = [b.final_value for ts in space_trials.values() if (b := best_trial(ts, direction)) is not None]
    overall = (max(bests) if direction == Direction.MAXIMIZE else min(bests)) if bests else None
    target = target_value(overall, within, direction) if overall is not None else None  # type: ignore[arg-type]

    spaces: dict[str, SpaceSummary] = {}
    for name, ss in by_space.items():
        ts = space_trials[name]
        best = best_trial(ts, direction)
        curve: list[tuple[float, float | None]] = []
        spent, running_best = 0.0, None
        for t in ts:
            if t.finished_at is None:
                continue
            spent += t.device_seconds
            if (
                t.state == TrialState.COMPLETE
                and t.final_value is not None
                and (running_best is None or _better(t.final_value, running_best, direction))
            ):
                running_best = t.final_value
            curve.append((spent, running_best))
        finished = [
            (t.final_value if t.state == TrialState.COMPLETE else None, t.device_seconds)
            for t in ts
            if t.finished_at is not None
        ]
        spaces[name] = SpaceSummary(
            name=name,
            best_value=best.final_value if best else None,
            best_params=trial_params(best) if best else {},
            n_trials=len(ts),
            counts={state: sum(t.state == state for t in ts) for state in TrialState},
            device_seconds=sum(t.device_seconds for t in ts),
            wall_seconds=sum(s.wall_seconds for s in ss),
            cost_to_target=cost_to_target(finished, target, direction) if target is not None else None,
            optuna_studies=[s.optuna_study_name for s in ss],
            trials=ts,
            best_so_far=curve,
        )
    return ExperimentSummary(experiment, metric, direction, within, target, spaces, reports)


def to_json(summary: ExperimentSummary) -> dict[str, Any]:
    """The ``lorasweep report --json`` document."""
    return {
        "experiment": summary.experiment.name,
        "status": summary.experiment.status.value,
        "metric": summary.metric,
        "direction": summary.direction.value,
        "target": {"within": summary.within, "value": summary.target},
        "spaces": {
            name: {
                "best_value": s.best_value,
                "best_params": s.best_params,
                "n_trials": s.n_trials,
                "n_complete": s.counts[TrialState.COMPLETE],
                "n_pruned": s.counts[TrialState.PRUNED],
                "n_failed": s.counts[TrialState.FAILED],
                "n_diverged": s.counts[TrialState.DIVERGED],
                "n_running": s.counts[TrialState.RUNNING],
                "device_seconds": s.device_seconds,
                "wall_seconds": s.wall_seconds,
                "cost_to_target": s.cost_to_target,
                "optuna_studies": s.optuna_studies,
            }
            for name, s in summary.spaces.items()
        },
    }
