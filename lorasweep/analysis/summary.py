"""The numbers every report shows, computed once from the store: the table, the JSON and the
HTML page all draw from :class:`ExperimentSummary`.

A space's best value is the best *final* value among its COMPLETE trials (what Optuna's
``best_value`` means); pruned, failed and diverged trials count in the cost but not as best.

Cost: a space's device-seconds add up its own trials; a trial still RUNNING when the summary is
taken is charged its elapsed time on its device share (:func:`lorasweep.cost.running_device_seconds`).
A space's wall seconds are the time during which one of its own trials ran
(:func:`lorasweep.cost.busy_seconds`), not the span of the one Tune run all spaces share, and not
once per rank. The cost to a target is measured to a target no single search sets
(:mod:`lorasweep.analysis.target`); a space that never reached it is censored at its budget.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.target import cost_target
from lorasweep.config import Direction, ExperimentConfig
from lorasweep.cost import (
    TimedRun,
    best_so_far,
    busy_seconds,
    cost_to_target_timed,
    device_seconds,
    reaches,
    running_device_seconds,
)
from lorasweep.store import (
    ExperimentRecord,
    Storage,
    StudyRecord,
    TrialCurve,
    TrialKind,
    TrialRecord,
    TrialState,
)


@dataclass(frozen=True, kw_only=True)
class SpaceSummary:
    """One space's search in an experiment (its first repeat): its best, its trials and what
    they cost. Built by :func:`summarize`; every report section reads it."""

    name: str
    best_value: float | None
    best_params: dict[str, Any]
    reached_target: bool  # its best reached the target (ExperimentSummary.target)
    n_trials: int
    counts: dict[TrialState, int]
    device_seconds: float  # its own trials', running ones charged their elapsed time
    wall_seconds: float  # while one of its own trials ran (busy_seconds)
    cost_to_target: float | None  # None: not reached, so more than device_seconds (censored at the budget)
    optuna_studies: list[str]
    trials: list[TrialRecord] = field(repr=False)
    #: (cumulative device-seconds, best final value so far) after each finished trial
    best_so_far: list[tuple[float, float | None]] = field(repr=False)
    #: the trials whose learning curves reports draw: all, or a sample (see :func:`curve_trials`)
    drawn: list[TrialRecord] = field(default_factory=list, repr=False)


@dataclass(frozen=True, kw_only=True)
class ExperimentSummary:
    """What every analysis and report section reads: one experiment as stored, read once by
    :func:`summarize`. The metric and direction it optimizes, the target (``within`` of the best),
    one :class:`SpaceSummary` per space, and, kept apart from the search figures, its seed
    re-runs, ablation points and repeated searches."""

    experiment: ExperimentRecord
    metric: str
    direction: Direction
    within: float
    target: float | None
    spaces: dict[str, SpaceSummary]
    #: trial id → its evaluations (steps, values, drift ratios), for the trials whose curves the
    #: reports draw (each space's ``drawn``) and the ablation's points; a trial that never reported has none
    curves: dict[int, TrialCurve] = field(repr=False)
    #: space → (step, mean drift ratio over its trials' reports at that step)
    drift: dict[str, list[tuple[int, float]]] = field(default_factory=dict, repr=False)
    #: space → its seed re-runs (compare --seeds); not part of the search figures above
    seed_trials: dict[str, list[TrialRecord]] = field(default_factory=dict, repr=False)
    #: arm space (ablation_alpha, ablation_lr) → its points (lorasweep ablation)
    ablation_trials: dict[str, list[TrialRecord]] = field(default_factory=dict, repr=False)
    config: ExperimentConfig | None = field(default=None, repr=False)
    #: space → repeat → that repeated search's trials (``compare --repeats``; every repeat, the
    #: first included). The figures above (``spaces``) are the first repeat's: one search.
    repeat_trials: dict[str, dict[int, list[TrialRecord]]] = field(default_factory=dict, repr=False)
    #: where ``target`` came from, in words (:func:`lorasweep.analysis.target.cost_target`)
    target_source: str = ""


#: Learning curves drawn per space at most. Past this, reports draw the best quarter of a space's
#: trials (by best value) and an even sample of the rest in trial order, and say so: 10,000 curves
#: draw as one blot, and reading every report of every trial is most of a large report's time.
MAX_CURVES = 200


def curve_trials(trials: list[TrialRecord], direction: Direction, limit: int = MAX_CURVES) -> list[TrialRecord]:
    """The trials whose learning curves are drawn: all of them up to ``limit``; past it the
    ``limit // 4`` with the best best-values and an even sample of the rest, in trial order."""
    if len(trials) <= limit:
        return trials
    scored = [t for t in trials if t.best_value is not None and math.isfinite(t.best_value)]
    scored = direction.sorted(scored, key=lambda t: t.best_value)  # type: ignore[arg-type,return-value]
    best = {t.id for t in scored[: limit // 4]}
    rest = [t for t in trials if t.id not in best]
    k = limit - len(best)
    sample = {rest[i * len(rest) // k].id for i in range(k)}
    return [t for t in trials if t.id in best or t.id in sample]


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


def gpu_share(config: ExperimentConfig | None) -> float:
    """The GPUs each trial held (0: CPU-only), ``auto`` resolved to what it chose."""
    if config is None:
        return 0.0
    share = config.resources.gpus_per_trial
    if share == "auto":
        return config.resources.auto.share if config.resources.auto is not None else 1.0
    return float(share)


def charge_running(trials: list[TrialRecord], now: dt.datetime, gpus_per_trial: float) -> list[TrialRecord]:
    """``trials`` with each one still RUNNING at ``now`` charged its elapsed wall and device time."""
    out = []
    for t in trials:
        if t.state == TrialState.RUNNING and t.finished_at is None:
            elapsed = (now - t.started_at).total_seconds()
            t = dataclasses.replace(
                t,
                wall_seconds=max(0.0, elapsed),
                device_seconds=running_device_seconds(elapsed, gpus_per_trial),
            )
        out.append(t)
    return out


def space_wall_seconds(trials: list[TrialRecord], now: dt.datetime) -> float:
    """Wall seconds during which one of ``trials`` (one space's) ran; a running trial up to ``now``."""
    return busy_seconds(
        [(t.started_at.timestamp(), (t.finished_at or max(now, t.started_at)).timestamp()) for t in trials]
    )


def timed_runs(trials: list[TrialRecord], gpus_per_trial: float) -> list[TimedRun]:
    """Every trial of a space on the clock, for the cost to the target (pruned, failed, diverged and
    interrupted trials included: their device time was spent; a running one at its elapsed time)."""
    share = device_seconds(1.0, gpus_per_trial)
    return [
        TimedRun(
            value=t.final_value if t.state == TrialState.COMPLETE else None,
            device_seconds=t.device_seconds,
            started=t.started_at.timestamp(),
            finished=t.finished_at.timestamp() if t.finished_at is not None else None,
            share=share if t.finished_at is None else None,
        )
        for t in trials
    ]


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def summarize(storage: Storage, experiment: ExperimentRecord, now: dt.datetime | None = None) -> ExperimentSummary:
    """Read ``experiment`` from ``storage`` into an :class:`ExperimentSummary`: its studies and
    trials grouped by space (search trials of the first repeat in ``spaces``; seed re-runs,
    ablation points and other repeats apart), each space's best, cost and cost to the target, and
    the evaluations of the trials whose curves reports draw. Reads only; changes nothing. ``now``
    (default: the current time) is when a report taken mid-run is taken: trials still running are
    charged their time up to it."""
    now = _utc(now) if now is not None else dt.datetime.now(dt.UTC)
    studies = storage.studies(experiment.id)
    config = ExperimentConfig.model_validate(experiment.config)
    every_trial = charge_running(storage.trials(experiment.id), now, gpu_share(config))
    trials = [t for t in every_trial if t.kind == TrialKind.SEARCH]
    direction, metric, within = config.metric.resolved_direction, config.metric.name, config.target.within

    by_space: dict[str, list[StudyRecord]] = {}
    space_of = {s.id: s.space for s in studies}
    repeat_of = {s.id: s.repeat for s in studies}
    for s in studies:
        if s.repeat == 0:  # the first repeat is the search the table shows; all are in repeat_trials
            by_space.setdefault(s.space, []).append(s)
    other: dict[TrialKind, dict[str, list[TrialRecord]]] = {TrialKind.SEEDS: {}, TrialKind.ABLATION: {}}
    for t in every_trial:
        if t.kind in other:
            other[t.kind].setdefault(space_of[t.study_id], []).append(t)
    if config.ablation is not None:  # the arms are not search spaces: no table rows of their own
        by_space = {k: v for k, v in by_space.items() if k not in other[TrialKind.ABLATION]}
    space_trials: dict[str, list[TrialRecord]] = {name: [] for name in by_space}
    repeat_trials: dict[str, dict[int, list[TrialRecord]]] = {name: {} for name in by_space}
    for t in trials:
        if (name := space_of.get(t.study_id)) in space_trials:
            repeat_trials[name].setdefault(repeat_of[t.study_id], []).append(t)
            if repeat_of[t.study_id] == 0:
                space_trials[name].append(t)
    goal = cost_target(config, direction, other[TrialKind.SEEDS], repeat_trials)
    target = goal.value

    spaces: dict[str, SpaceSummary] = {}
    drift_totals: dict[str, dict[int, tuple[float, int]]] = {name: {} for name in by_space}
    for study_id, step, total, n in storage.drift_totals(experiment.id):
        if repeat_of[study_id] == 0 and (per_step := drift_totals.get(space_of[study_id])) is not None:
            sum_, count = per_step.get(step, (0.0, 0))
            per_step[step] = (sum_ + total, count + n)
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
            wall_seconds=space_wall_seconds(ts, now),
            cost_to_target=(
                cost_to_target_timed(timed_runs(ts, gpu_share(config)), target, direction)
                if target is not None
                else None
            ),
            optuna_studies=[s.optuna_study_name for s in ss],
            trials=ts,
            best_so_far=best_so_far(finished, direction),
            drawn=curve_trials(ts, direction),
        )
    wanted = [t.id for s in spaces.values() for t in s.drawn]
    wanted += [t.id for ts in other[TrialKind.ABLATION].values() for t in ts]
    return ExperimentSummary(
        experiment=experiment,
        metric=metric,
        direction=direction,
        within=within,
        target=target,
        spaces=spaces,
        curves=storage.curves(experiment.id, wanted),
        drift={name: [(step, t / n) for step, (t, n) in sorted(d.items())] for name, d in drift_totals.items()},
        seed_trials=other[TrialKind.SEEDS],
        ablation_trials=other[TrialKind.ABLATION],
        config=config,
        repeat_trials=repeat_trials,
        target_source=goal.source,
    )
