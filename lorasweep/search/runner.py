"""``lorasweep compare``: for each rank and each space, one Optuna study searched by Ray Tune.

Every space gets the same budget: the same number of trials, steps, sampler (and seed),
scheduler, seed and data order. Studies run one after another, so each owns the same resources.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from lorasweep.config import Direction, ExperimentConfig, SpaceConfig
from lorasweep.dashboards.optuna_dashboard import publish as publish_dashboard_notes
from lorasweep.errors import LorasweepError
from lorasweep.search.ablation import Arm, arm_of, arm_points, arm_space
from lorasweep.search.samplers import make_sampler
from lorasweep.search.schedulers import make_scheduler
from lorasweep.search.spaces import at_rank, distributions
from lorasweep.search.tune import ProgressCallback, StoreCallback, StudySearch
from lorasweep.store import (
    ExperimentRecord,
    ExperimentStatus,
    Storage,
    TrialFinish,
    TrialKind,
    TrialRecord,
    TrialState,
    optuna_storage,
)
from lorasweep.trials.train import check_setup
from lorasweep.trials.trainable import POINT, SEED, lorasweep_trainable

log = logging.getLogger("lorasweep.search")

#: The error of trials cut off by an interrupt or a crash (``compare --resume`` re-runs their budget).
INTERRUPTED = "interrupted"
#: Above this many concurrent trials on SQLite, preflight suggests PostgreSQL.
SQLITE_CONCURRENCY = 4


def resumable(storage: Storage, name: str, seeds: int | None = None) -> tuple[ExperimentConfig, bool]:
    """The stored config of experiment ``name`` and whether it ran as an ablation; an error if
    there is nothing to resume. ``seeds`` (``compare --resume --seeds N``): re-run the best
    configs on N seeds, which a complete experiment may also do (re-runs it has are kept)."""
    storage.check_schema()
    record = storage.experiment(name)
    if record.status == ExperimentStatus.COMPLETE and seeds is None:
        raise LorasweepError(
            f"experiment '{name}' is complete; nothing to resume (run a new one with another --name, "
            "or add seed re-runs with --resume --seeds N)"
        )
    exp = ExperimentConfig.model_validate(record.config)
    studies = storage.studies(record.id)
    ablation = exp.ablation is not None and (not exp.spaces or any(arm_of(s.space) for s in studies))
    if seeds is not None:
        if ablation:
            raise LorasweepError(f"--seeds: experiment '{name}' is an ablation; it has no best configs to re-run")
        exp = exp.model_copy(update={"seeds": exp.seeds.model_copy(update={"n": seeds})})
    return exp, ablation


def finished(trial: TrialRecord) -> bool:
    """A trial that used its budget: it ended by itself (complete, pruned, diverged, raised), not
    cut off by an interrupt or a crash."""
    if trial.state == TrialState.RUNNING:
        return False
    return not (trial.state == TrialState.FAILED and (trial.error or "").startswith(INTERRUPTED))


def optuna_study_name(experiment: str, space: str, rank: int) -> str:
    """One Optuna study per (experiment, space, rank); experiment names are unique in a database."""
    return f"{experiment}/{space}/r{rank}"


@dataclass(frozen=True)
class StudyPlan:
    space: SpaceConfig
    rank: int
    study_name: str
    kind: TrialKind = TrialKind.SEARCH

    @property
    def label(self) -> str:
        suffix = {TrialKind.SEEDS: " seeds", TrialKind.ABLATION: " ×k"}.get(self.kind, "")
        return f"{self.space.name} r={self.rank}{suffix}"


def ablation_plans(exp: ExperimentConfig, name: str) -> list[StudyPlan]:
    """The two arms of ``lorasweep ablation`` as studies (no Optuna study: the points are fixed)."""
    assert exp.ablation is not None
    return [
        StudyPlan(space, exp.ablation.rank, optuna_study_name(name, space.name, exp.ablation.rank), TrialKind.ABLATION)
        for space in (arm_space(exp.ablation, arm) for arm in Arm)
    ]


def plan(exp: ExperimentConfig, name: str) -> list[StudyPlan]:
    """One study per (space, rank), each space as searched at its rank (matched ranges made explicit)."""
    return [
        StudyPlan(at_rank(s, r, exp.effective_step), r, optuna_study_name(name, s.name, r))
        for r in exp.ranks
        for s in exp.spaces
    ]


class Progress:
    """What the search tells whoever shows progress (the CLI draws bars from it)."""

    def study_started(self, plan: StudyPlan, total: int) -> None: ...
    def trial_done(self, plan: StudyPlan, state: TrialState, value: float | None) -> None: ...
    def study_done(self, plan: StudyPlan) -> None: ...


def _init_ray(exp: ExperimentConfig, verbose: bool) -> None:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    if not ray.is_initialized():
        # RAY_ADDRESS (set by `ray job submit`, or by the user: an address or "auto") names the
        # cluster; without it lorasweep starts a local Ray of its own. (Ray's own default would
        # also join whatever cluster was started last on this machine, even a stopped one.)
        address = os.environ.get("RAY_ADDRESS")
        local = {"include_dashboard": False} if not address else {}
        ray.init(
            address=address or "local",
            log_to_driver=verbose,
            configure_logging=True,
            logging_level=logging.INFO if verbose else logging.ERROR,
            **local,
        )
    cpus = ray.cluster_resources().get("CPU", 0)
    gpus = ray.cluster_resources().get("GPU", 0)
    if exp.resources.cpus_per_trial > cpus:
        raise LorasweepError(
            f"resources.cpus_per_trial is {exp.resources.cpus_per_trial} but the Ray cluster has {cpus:g} CPUs; "
            "lower cpus_per_trial"
        )
    if exp.resources.gpus_per_trial > gpus:
        raise LorasweepError(
            f"resources.gpus_per_trial is {exp.resources.gpus_per_trial} but the Ray cluster has {gpus:g} GPUs; "
            "set gpus_per_trial: 0 or run on a cluster with GPUs"
        )


def check_free(storage: Storage, exp_name: str, plans: list[StudyPlan]) -> None:
    """Refuse if the experiment name or one of its Optuna study names is taken (reads only)."""
    if not storage.exists():
        return
    if storage.schema_revision() is not None and exp_name in storage.experiment_names():
        raise LorasweepError(f"experiment '{exp_name}' already exists in this database; choose another --name")
    if storage.has_table("studies"):  # Optuna's
        taken = set(optuna.get_all_study_names(optuna_storage(storage)))
        clash = [p.study_name for p in plans if p.study_name in taken]
        if clash:
            raise LorasweepError(
                f"Optuna studies {', '.join(clash)} already exist in this database; choose another --name"
            )


def preflight(
    exp: ExperimentConfig,
    storage: Storage,
    name: str,
    verbose: bool = False,
    ablation: bool = False,
    resume: bool = False,
) -> list[StudyPlan]:
    """Every check that can fail before anything is written: the model and its target modules,
    the task data, the names, Ray and its resources. ``ablation``: plan the ablation's two arms
    instead of the experiment's searches. ``resume``: the experiment exists (see
    :func:`resumable`) instead of the name being free."""
    if ablation and exp.ablation is None:
        raise LorasweepError("the experiment has no ablation section; add ablation: {rank, alpha, lr, ks}")
    plans = ablation_plans(exp, name) if ablation else plan(exp, name)
    check_setup(exp)
    for p in plans if not ablation else []:
        make_sampler(exp.sampler, exp.seed, distributions(p.space), exp.budget.trials)
    if not resume:
        check_free(storage, name, plans)
    if exp.warm_start is not None:
        if not storage.exists() or storage.schema_revision() is None:
            raise LorasweepError(
                f"warm_start.experiment '{exp.warm_start.experiment}': this database holds no experiments"
            )
        storage.experiment(exp.warm_start.experiment)  # an unknown name lists the known ones
    if storage.url.startswith("sqlite") and exp.max_concurrent_trials > SQLITE_CONCURRENCY:
        log.warning(
            "SQLite with %d concurrent trials: lorasweep writes from one process, so this works on one machine, "
            "but use PostgreSQL (--storage postgresql+psycopg://...) for clusters and dashboards under load",
            exp.max_concurrent_trials,
        )
    _init_ray(exp, verbose)
    return plans


def run_compare(
    exp: ExperimentConfig,
    storage: Storage,
    name: str,
    progress: Progress | None = None,
    verbose: bool = False,
    trainable: Callable[..., None] = lorasweep_trainable,
    plans: list[StudyPlan] | None = None,
    resume: bool = False,
) -> ExperimentRecord:
    """Run every (rank, space) study of ``exp`` (or, with ablation ``plans``, the ablation's
    points) and record it as experiment ``name``.

    With ``resume`` the experiment exists already (its driver died): trials left RUNNING are
    marked failed (interrupted) in both stores, and only the budget that did not finish is run;
    finished trials are kept as they are.

    ``plans`` come from :func:`preflight` (run here when not given). ``trainable`` is the Tune
    function each trial runs (benchmarks swap in a no-op one); it gets the sampled config and the
    keywords ``experiment_json``, ``space_json``, ``rank``, ``verbose``."""
    progress = progress or Progress()
    plans = plans if plans is not None else preflight(exp, storage, name, verbose)
    ot_storage = optuna_storage(storage)
    if resume:
        record = storage.experiment(name)
        _close_open_trials(storage, record, plans, ot_storage, f"{INTERRUPTED}: the search process died")
        storage.reopen_experiment(record.id)
    else:
        storage.upgrade()
        record = storage.create_experiment(name, exp.description, exp.model_dump(mode="json"))
    experiment_json = exp.model_dump_json()
    status, reason = ExperimentStatus.FAILED, "the search stopped with an error"
    try:
        if plans and plans[0].kind == TrialKind.ABLATION:
            for p in plans:
                _run_ablation_arm(exp, storage, record, p, experiment_json, progress, verbose, trainable)
        else:
            study_ids = {
                p.study_name: _run_study(
                    exp, storage, record, p, ot_storage, experiment_json, progress, verbose, trainable
                )
                for p in plans
            }
            for p in plans if exp.seeds.n else []:
                _run_seeds(
                    exp, storage, record, p, study_ids[p.study_name], experiment_json, progress, verbose, trainable
                )
        status = ExperimentStatus.COMPLETE
    except KeyboardInterrupt:
        status, reason = ExperimentStatus.INTERRUPTED, INTERRUPTED
        raise
    finally:
        _close_open_trials(storage, record, plans, ot_storage, reason)
        storage.finish_experiment(record.id, status)
    publish_dashboard_notes(storage, name)  # every study's note, again after the seed re-runs
    return storage.experiment(name)


def _close_open_trials(
    storage: Storage,
    record: ExperimentRecord,
    plans: list[StudyPlan],
    ot_storage: optuna.storages.RDBStorage,
    reason: str,
) -> None:
    """Trials still running when the search ends did not finish: failed, in both stores.

    A crash can fall between Optuna's record of a trial's end and lorasweep's (Ray tells the
    searcher first): such a trial finished, so lorasweep records the end Optuna has (state and
    value; its reports died with the driver) instead of calling it interrupted."""
    names = set(optuna.get_all_study_names(ot_storage))
    studies = {
        p.study_name: optuna.load_study(study_name=p.study_name, storage=ot_storage)
        for p in plans
        if p.study_name in names
    }
    row_study = {s.id: s.optuna_study_name for s in storage.studies(record.id)}
    for t in storage.trials(record.id):
        study = studies.get(row_study.get(t.study_id, ""))
        if t.state != TrialState.RUNNING or t.optuna_number is None or study is None:
            continue
        ot = next((o for o in study.get_trials(deepcopy=False) if o.number == t.optuna_number), None)
        if ot is not None and ot.state.is_finished():
            storage.finish_trial(t.id, _finish_from_optuna(ot))
    storage.fail_running_trials(record.id, reason)
    for study in studies.values():
        for ot in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            ot_storage.set_trial_state_values(ot._trial_id, optuna.trial.TrialState.FAIL)


def _finish_from_optuna(ot: optuna.trial.FrozenTrial) -> TrialFinish:
    """A trial's end as Optuna recorded it (its reports are not known)."""
    steps = max(ot.intermediate_values, default=0)
    last = ot.intermediate_values.get(steps) if ot.intermediate_values else None
    if ot.state == optuna.trial.TrialState.COMPLETE:
        state, value = TrialState.COMPLETE, ot.value
    elif ot.state == optuna.trial.TrialState.PRUNED:
        state, value = TrialState.PRUNED, last
    else:
        state, value = TrialState.FAILED, None
    error = "failed (recorded by Optuna; the driver died before lorasweep recorded it)" if value is None else None
    return TrialFinish(state, value, value, steps, None, error, 0.0, 0.0, 0, 0, ())


def _run_config(exp: ExperimentConfig, name: str, verbose: bool, callbacks: list[Any]) -> Any:
    """Ray Tune's run settings: where results go, how often a dead trial is re-run, callbacks."""
    from ray import tune

    return tune.RunConfig(
        name=f"{name}-{int(time.time())}".replace("/", "_"),
        storage_path=exp.ray.storage_path,
        failure_config=tune.FailureConfig(max_failures=exp.ray.max_failures),
        # a trial checkpoints only when its value improved: keeping one keeps its best adapter
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        verbose=2 if verbose else 0,
        callbacks=callbacks,
    )


def _with_resources(
    exp: ExperimentConfig, p: StudyPlan, experiment_json: str, verbose: bool, trainable_fn: Callable[..., None]
) -> Any:
    """The Tune trainable of one study: the trial function with its settings and resources."""
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(
            trainable_fn,
            experiment_json=experiment_json,
            space_json=p.space.model_dump_json(),
            rank=p.rank,
            verbose=verbose,
        ),
        {"cpu": exp.resources.cpus_per_trial, "gpu": exp.resources.gpus_per_trial},
    )


def _run_study(
    exp: ExperimentConfig,
    storage: Storage,
    record: ExperimentRecord,
    p: StudyPlan,
    ot_storage: optuna.storages.RDBStorage,
    experiment_json: str,
    progress: Progress,
    verbose: bool,
    trainable_fn: Callable[..., None],
) -> int:
    """Search one (space, rank) study; return its row id. A study that exists already (resume)
    runs only the trials its budget has left."""
    from ray import tune

    metric, direction = exp.metric.name.value, exp.metric.resolved_direction
    dists = distributions(p.space)
    study = optuna.create_study(
        storage=ot_storage, study_name=p.study_name, direction=direction.value, load_if_exists=True
    )
    for key, value in {
        "experiment": record.name,
        "space": p.space.name,
        "rank": p.rank,
        "metric": metric,
        "direction": direction.value,
    }.items():
        study.set_user_attr(key, value)
    study_row = storage.add_study(
        record.id, p.space.name, p.rank, p.study_name, metric, direction, p.space.model_dump(mode="json")
    )
    done = sum(
        finished(t) for t in storage.trials(record.id) if t.study_id == study_row.id and t.kind == TrialKind.SEARCH
    )
    remaining = exp.budget.trials - done
    if remaining <= 0:
        if study_row.finished_at is None:  # a finished study keeps its end (and wall time)
            storage.finish_study(study_row.id)
        return study_row.id
    points = warm_points(storage, exp, p) if exp.warm_start is not None and not study.trials else None
    # Each rank's sampler has its own seed (the first rank's is the experiment's), so ranks do not
    # all try the same candidates; a resumed study's is seeded past the trials it has.
    sampler_seed = exp.seed + 1000 * exp.ranks.index(p.rank) + len(study.trials)
    search = StudySearch(
        space=dists,
        metric=metric,
        mode=direction.ray_mode,
        sampler=make_sampler(exp.sampler, sampler_seed, dists, exp.budget.trials),
        storage=ot_storage,
        study_name=p.study_name,
        points_to_evaluate=points or None,
    )
    trainable = _with_resources(exp, p, experiment_json, verbose, trainable_fn)
    progress.study_started(p, remaining)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=direction.ray_mode,
            search_alg=search,
            scheduler=make_scheduler(exp.scheduler, exp.budget),
            num_samples=remaining,
            max_concurrent_trials=exp.max_concurrent_trials,
            reuse_actors=True,
        ),
        run_config=_run_config(
            exp,
            f"{record.name}-{p.space.name}-r{p.rank}",
            verbose,
            [
                StoreCallback(
                    storage, study_row.id, p.space, p.rank, exp.seed, metric, direction, exp.resources.gpus_per_trial
                ),
                ProgressCallback(lambda state, value: progress.trial_done(p, state, value), metric),
            ],
        ),
    )
    try:
        tuner.fit()
    finally:
        storage.finish_study(study_row.id)
    progress.study_done(p)
    publish_dashboard_notes(storage, record)  # the note on every study so far, as this one finishes
    return study_row.id


def warm_points(storage: Storage, exp: ExperimentConfig, p: StudyPlan) -> list[dict[str, Any]]:
    """``warm_start``: the best complete trials of the earlier experiment's study of the same
    space (the same rank, else the nearest), as values of this space's searched parameters;
    points outside this space's ranges are left out."""
    assert exp.warm_start is not None
    record = storage.experiment(exp.warm_start.experiment)
    studies = [s for s in storage.studies(record.id) if s.space == p.space.name]
    if not studies:
        return []
    study = min(studies, key=lambda s: (abs(math.log(s.rank / p.rank)), s.rank))
    direction = exp.metric.resolved_direction
    done = [
        t
        for t in storage.trials(record.id)
        if t.study_id == study.id and t.kind == TrialKind.SEARCH and t.state == TrialState.COMPLETE and t.final_value
    ]
    done.sort(key=lambda t: t.final_value, reverse=direction is Direction.MAXIMIZE)  # type: ignore[arg-type,return-value]
    dists = distributions(p.space)
    points = []
    for t in done[: exp.warm_start.top_k]:
        point = {k: float(t.params[k]) for k in dists if k in t.params}
        if len(point) == len(dists) and all(d._contains(point[k]) for k, d in dists.items()):
            points.append(point)
    return points


def seed_points(exp: ExperimentConfig, trials: list[TrialRecord]) -> list[dict[str, Any]]:
    """The re-runs of ``compare --seeds``: the study's ``top_k`` complete search trials (by final
    value), each on ``n`` seeds after the experiment's (seed+1, seed+2, ...)."""
    direction = exp.metric.resolved_direction
    done = [t for t in trials if t.kind == TrialKind.SEARCH and t.state == TrialState.COMPLETE and t.final_value]
    done.sort(key=lambda t: t.final_value, reverse=direction is Direction.MAXIMIZE)  # type: ignore[arg-type,return-value]
    seeds = [exp.seed + 1 + i for i in range(exp.seeds.n)]
    return [{**t.params, SEED: s} for t in done[: exp.seeds.top_k] for s in seeds]


def _run_seeds(
    exp: ExperimentConfig,
    storage: Storage,
    record: ExperimentRecord,
    p: StudyPlan,
    study_id: int,
    experiment_json: str,
    progress: Progress,
    verbose: bool,
    trainable_fn: Callable[..., None],
) -> None:
    """Re-run the study's best configs on new seeds, recorded as SEEDS trials of the same study."""
    points = seed_points(exp, [t for t in storage.trials(record.id) if t.study_id == study_id])
    plan = StudyPlan(p.space, p.rank, f"{p.study_name}/seeds", TrialKind.SEEDS)
    _run_points(exp, storage, record, plan, study_id, points, experiment_json, progress, verbose, trainable_fn)


def _run_ablation_arm(
    exp: ExperimentConfig,
    storage: Storage,
    record: ExperimentRecord,
    p: StudyPlan,
    experiment_json: str,
    progress: Progress,
    verbose: bool,
    trainable_fn: Callable[..., None],
) -> None:
    """One arm of the ablation: a study whose trials are the arm's fixed points."""
    assert exp.ablation is not None
    arm = arm_of(p.space.name)
    assert arm is not None
    metric, direction = exp.metric.name.value, exp.metric.resolved_direction
    study = storage.add_study(
        record.id, p.space.name, p.rank, p.study_name, metric, direction, p.space.model_dump(mode="json")
    )
    try:
        points = arm_points(exp.ablation, arm, exp.seed)
        _run_points(exp, storage, record, p, study.id, points, experiment_json, progress, verbose, trainable_fn)
    finally:
        storage.finish_study(study.id)


def _point_key(point: dict[str, Any]) -> str:
    return json.dumps({k: round(float(v), 12) for k, v in point.items()}, sort_keys=True)


def _run_points(
    exp: ExperimentConfig,
    storage: Storage,
    record: ExperimentRecord,
    plan: StudyPlan,
    study_id: int,
    points: list[dict[str, Any]],
    experiment_json: str,
    progress: Progress,
    verbose: bool,
    trainable_fn: Callable[..., None],
) -> None:
    """Run fixed trial configs (a Ray grid over whole points), recorded as ``plan.kind`` trials
    of study ``study_id``."""
    from ray import tune

    done = {
        _point_key({**t.params, SEED: t.seed})
        for t in storage.trials(record.id)
        if t.study_id == study_id and t.kind == plan.kind and finished(t)
    }
    points = [pt for pt in points if _point_key(pt) not in done]  # resume: what did not finish
    if not points:
        return
    metric, direction = exp.metric.name.value, exp.metric.resolved_direction
    trainable = _with_resources(exp, plan, experiment_json, verbose, trainable_fn)
    progress.study_started(plan, len(points))
    tune.Tuner(
        trainable,
        param_space={POINT: tune.grid_search(points)},
        tune_config=tune.TuneConfig(max_concurrent_trials=exp.max_concurrent_trials, reuse_actors=True),
        run_config=_run_config(
            exp,
            plan.study_name,
            verbose,
            [
                StoreCallback(
                    storage,
                    study_id,
                    plan.space,
                    plan.rank,
                    exp.seed,
                    metric,
                    direction,
                    exp.resources.gpus_per_trial,
                    plan.kind,
                ),
                ProgressCallback(lambda state, value: progress.trial_done(plan, state, value), metric),
            ],
        ),
    ).fit()
    progress.study_done(plan)
