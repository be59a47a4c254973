"""Running a planned experiment: for each study of a :class:`~lorasweep.search.plan.RunPlan`,
one Optuna study (or a study of fixed points) run by Ray Tune.

Every space gets the same budget: the same number of trials, steps, sampler (and seed),
scheduler, seed and data order. All studies run in one Tune run, interleaved (see
:mod:`lorasweep.search.ray_adapter.tuner`), so machine load and noise fall on every space alike.

The flow runs one way: a builder of :mod:`lorasweep.search.studies` decides the studies,
:func:`preflight` checks them before anything is written, :func:`run_plan` runs them and keeps
the records straight (:mod:`~lorasweep.search.reconcile` with Optuna's, the points of
:mod:`~lorasweep.search.points`, stops by :mod:`~lorasweep.search.signals`). Ray is driven only
through :mod:`lorasweep.search.ray_adapter`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import signal
from collections.abc import Callable
from typing import Any

import optuna

from lorasweep.commands import resume_command
from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError, SearchInterrupted
from lorasweep.search.guard import record_data
from lorasweep.search.plan import (
    Progress,
    ProgressListener,
    RunContext,
    RunPlan,
    StudyPlan,
    StudyRun,
    optuna_study_name,
)
from lorasweep.search.points import point_key, seed_points, warm_points
from lorasweep.search.ray_adapter import tuner
from lorasweep.search.ray_adapter.keys import SEED
from lorasweep.search.ray_adapter.trainable import lorasweep_trainable
from lorasweep.search.reconcile import INTERRUPTED, close_open_trials, finished
from lorasweep.search.samplers import make_sampler
from lorasweep.search.signals import RunInterrupted, StopRequest, stop_signals
from lorasweep.search.studies import compare_plan
from lorasweep.search.warm_start import check_warm_start
from lorasweep.space.resolve import distributions
from lorasweep.store import ExperimentRecord, ExperimentStatus, Storage, TrialKind, optuna_storage
from lorasweep.store.lease import Lease
from lorasweep.store.seed_looks import record_seed_look
from lorasweep.train.memory import MemoryProbe
from lorasweep.train.train import check_setup

__all__ = [
    "INTERRUPTED",
    "SQLITE_CONCURRENCY",
    "Progress",
    "ProgressListener",
    "StudyPlan",
    "check_free",
    "finished",
    "optuna_study_name",
    "preflight",
    "run_compare",
    "run_plan",
    "stop_signals",
]

log = logging.getLogger("lorasweep.search")

#: Above this many concurrent trials on SQLite, preflight suggests PostgreSQL.
SQLITE_CONCURRENCY = 4


def check_free(storage: Storage, exp_name: str, plans: tuple[StudyPlan, ...]) -> None:
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


def preflight(run: RunPlan, storage: Storage, verbose: bool = False) -> RunPlan:
    """Every check that can fail before anything is written: the model and its target modules,
    the task data, each search's sampler, the names (free, unless the run resumes), the warm
    start's experiment, Ray and its resources. Returns ``run``, checked."""
    exp = run.exp
    check_setup(exp)
    for p in run.studies:
        if p.kind == TrialKind.SEARCH:
            make_sampler(exp.sampler, exp.seed, distributions(p.space), exp.budget.trials)
    if not run.resume:
        check_free(storage, run.name, run.studies)
    if run.warm_start is not None:
        check_warm_start(storage, exp)
    if storage.url.startswith("sqlite") and exp.max_concurrent_trials > SQLITE_CONCURRENCY:
        log.warning(
            "SQLite with %d concurrent trials: lorasweep writes from one process, so this works on one machine, "
            "but use PostgreSQL (--storage postgresql+psycopg://...) for clusters and dashboards under load",
            exp.max_concurrent_trials,
        )
    tuner.init_ray(exp, verbose)
    return run


def run_compare(
    exp: ExperimentConfig,
    storage: Storage,
    name: str,
    progress: ProgressListener | None = None,
    verbose: bool = False,
    trainable: Callable[..., None] = lorasweep_trainable,
    publish: Callable[[Storage, ExperimentRecord], Any] | None = None,
    memory_probe: MemoryProbe | None = None,
) -> ExperimentRecord:
    """Plan (:func:`~lorasweep.search.studies.compare_plan`), check and run experiment ``exp``
    as ``name``: every (rank, space) study, then the seed re-runs (see :func:`run_plan`)."""
    run = preflight(compare_plan(exp, name), storage, verbose)
    return run_plan(
        run,
        storage,
        progress=progress,
        verbose=verbose,
        trainable=trainable,
        publish=publish,
        memory_probe=memory_probe,
    )


def run_plan(
    run: RunPlan,
    storage: Storage,
    *,
    progress: ProgressListener | None = None,
    verbose: bool = False,
    trainable: Callable[..., None] = lorasweep_trainable,
    publish: Callable[[Storage, ExperimentRecord], Any] | None = None,
    memory_probe: MemoryProbe | None = None,
    next_seed_look: Callable[[Storage, ExperimentRecord], int | None] | None = None,
) -> ExperimentRecord:
    """Run the studies of ``run`` (checked by :func:`preflight`) and record them as experiment
    ``run.name``. The studies run in one Tune run, interleaved; then, with ``run.seeds``, every
    search's seed re-runs in another.

    With ``run.resume`` the experiment exists already (it was stopped, or its driver died): trials
    left RUNNING are marked interrupted (Optuna: FAIL), and each study runs only what its budget
    has left; finished trials are kept as they are.

    ``publish`` (the CLI passes the optuna-dashboard notes) sees the store and the experiment
    when the searches have finished and again at the end.
    SIGINT or SIGTERM during the run (:func:`~lorasweep.search.signals.stop_signals`) stops it as a
    whole: no trial starts, the running ones are recorded as interrupted with the device time they
    used, the experiment as interrupted, and :class:`~lorasweep.errors.SearchInterrupted` says how
    to resume.

    ``trainable`` is the Tune function each trial runs (benchmarks swap in a no-op one); it gets
    the sampled config (with the keys of :mod:`lorasweep.search.ray_adapter.keys`, among them the
    trial's study) and the keywords ``experiment_json``, ``studies_json``, ``verbose``.
    ``memory_probe`` measures a trial's peak GPU memory for ``gpus_per_trial: auto`` (default: on
    a GPU, with CUDA). ``next_seed_look`` (required with ``compare --seeds auto``; the CLI passes
    :func:`lorasweep.analysis.seeds.next_seed_look`) reads the stored seed verdict and says how many
    seeds the next batch runs up to, or None when the verdict is settled or the maximum reached."""
    if run.seeds is not None and run.seeds.auto and next_seed_look is None:
        raise LorasweepError("--seeds auto needs the seed verdict to stop on (pass next_seed_look to run_plan)")
    # auto → a measured share, before anything is written
    run = dataclasses.replace(run, exp=tuner.choose_gpu_share(run.exp, memory_probe))
    exp, name = run.exp, run.name
    ot_storage = optuna_storage(storage)
    stop = StopRequest()
    with stop_signals(stop), contextlib.ExitStack() as held:
        if not run.resume:
            storage.upgrade()
        held.enter_context(Lease(storage.engine, name))  # one driver per experiment
        if run.resume:
            record = storage.experiment(name)
        else:
            record = storage.create_experiment(name, exp.description, exp.model_dump(mode="json"))
            record_data(storage, record, exp)
        ctx = RunContext(
            exp=exp,
            storage=storage,
            record=record,
            ot_storage=ot_storage,
            trainable=trainable,
            progress=progress or ProgressListener(),
            verbose=verbose,
            stop=stop,
        )
        status, reason = ExperimentStatus.FAILED, f"{INTERRUPTED}: the search stopped with an error"
        signum: int | None = None
        try:
            if run.resume:
                close_open_trials(
                    storage, record, run.studies, ot_storage, reason=f"{INTERRUPTED}: the search process died"
                )
                storage.reopen_experiment(record.id)
            _run_studies(ctx, run, publish, next_seed_look)
            stop.check()  # a stop asked for as the last trial ended still ends the run as interrupted
            status = ExperimentStatus.COMPLETE
        except KeyboardInterrupt as e:  # RunInterrupted, or Ctrl-C where the handler is not ours
            signum = stop.signum or (e.signum if isinstance(e, RunInterrupted) else signal.SIGINT)
            status, reason = ExperimentStatus.INTERRUPTED, f"{INTERRUPTED} by {signal.Signals(signum).name}"
        finally:
            stop.closing = True
            ended_at = stop.at or dt.datetime.now(dt.UTC)
            gpus = exp.resources.gpus_per_trial
            cut = close_open_trials(
                storage, record, run.studies, ot_storage, reason=reason, ended_at=ended_at, gpus_per_trial=gpus
            )
            storage.finish_experiment(record.id, status)
    if signum is None and publish is not None:  # again after the seed re-runs
        publish(storage, storage.experiment(name))
    if signum is not None:
        trials = f"{cut} running trial{'s' * (cut != 1)} recorded as interrupted"
        raise SearchInterrupted(
            f"interrupted by {signal.Signals(signum).name}: {trials}, experiment '{name}' kept as interrupted; "
            f"resume with: {resume_command(name, storage.url, ablation=run.ablation)}",
            signum,
        )
    return storage.experiment(name)


def _run_studies(
    ctx: RunContext,
    run: RunPlan,
    publish: Callable[[Storage, ExperimentRecord], Any] | None,
    next_seed_look: Callable[[Storage, ExperimentRecord], int | None] | None = None,
) -> None:
    """The searches (or the ablation's arms) in one Tune run, then the seed re-runs in others."""
    searches = [_search_run(ctx, run, p) for p in run.studies if p.kind == TrialKind.SEARCH]
    arms = [_arm_run(ctx, p) for p in run.studies if p.kind == TrialKind.ABLATION]
    if open_searches := [r for r in searches if r.trials > 0]:
        tuner.run_searches(ctx, open_searches)
        if publish is not None:  # e.g. the notes on every study in optuna-dashboard, as they finish
            publish(ctx.storage, ctx.record)
    if open_arms := [r for r in arms if r.trials > 0]:
        tuner.run_points(ctx, open_arms, "ablation")
    if run.seeds is not None and not run.seeds.auto:
        _run_seeds(ctx, run, searches, run.seeds.n)
    elif run.seeds is not None and next_seed_look is not None:  # --seeds auto: batch after batch
        ran = 0
        while (n := next_seed_look(ctx.storage, ctx.record)) is not None and n > ran:
            _run_seeds(ctx, run, searches, n)
            ran = n


def _add_study(ctx: RunContext, p: StudyPlan) -> Any:
    return ctx.storage.add_study(
        ctx.record.id,
        space=p.space.name,
        rank=p.rank,
        optuna_study_name=p.study_name,
        metric=ctx.metric,
        direction=ctx.direction,
        space_config=p.space.model_dump(mode="json"),
        repeat=p.repeat,
    )


def _search_run(ctx: RunContext, run: RunPlan, p: StudyPlan) -> StudyRun:
    """Set up one (space, rank) search (its Optuna study and its row) and say what this run does
    for it. A study that exists already (resume) runs only the trials its budget has left; one
    that has none left is ended (if it was not) and runs nothing."""
    storage, record = ctx.storage, ctx.record
    study = optuna.create_study(
        storage=ctx.ot_storage, study_name=p.study_name, direction=ctx.direction.value, load_if_exists=True
    )
    for key, value in {
        "experiment": record.name,
        "space": p.space.name,
        "rank": p.rank,
        "repeat": p.repeat,
        "metric": ctx.metric,
        "direction": ctx.direction.value,
    }.items():
        study.set_user_attr(key, value)
    row = _add_study(ctx, p)
    done = sum(finished(t) for t in storage.trials(record.id) if t.study_id == row.id and t.kind == TrialKind.SEARCH)
    remaining = p.trials - done
    if remaining <= 0:
        if row.finished_at is None:  # a finished study keeps its end (and wall time)
            storage.finish_study(row.id)
        return StudyRun(plan=p, study_id=row.id, trials=0, done=done)
    points = warm_points(storage, run.warm_start, ctx.direction, p) if run.warm_start and not study.trials else []
    return StudyRun(
        plan=p,
        study_id=row.id,
        trials=remaining,
        done=done,
        sampler_seed=p.sampler_seed + len(study.trials),  # a resumed study's is seeded past its trials
        warm_points=tuple(points),
    )


def _points_run(ctx: RunContext, p: StudyPlan, study_id: int) -> StudyRun:
    """The points of ``p`` this run still has to run (resume: those that did not finish)."""
    done = {
        point_key({**t.params, SEED: t.seed})
        for t in ctx.storage.trials(ctx.record.id)
        if t.study_id == study_id and t.kind == p.kind and finished(t)
    }
    todo = tuple(pt for pt in p.points if point_key(pt) not in done)
    return StudyRun(plan=p, study_id=study_id, trials=len(todo), points=todo)


def _arm_run(ctx: RunContext, p: StudyPlan) -> StudyRun:
    """One arm of the ablation: a study whose trials are the arm's fixed points."""
    row = _add_study(ctx, p)
    run = _points_run(ctx, p, row.id)
    if not run.trials and row.finished_at is None:
        ctx.storage.finish_study(row.id)
    return run


def _run_seeds(ctx: RunContext, run: RunPlan, searches: list[StudyRun], n: int) -> None:
    """Re-run every search's best configs on new seeds 1..``n`` (those not run yet), in one Tune
    run, recorded as SEEDS trials of the same studies; then record a look at ``n`` seeds."""
    assert run.seeds is not None
    seeds = run.seeds.model_copy(update={"n": n})
    trials = ctx.storage.trials(ctx.record.id)
    runs = []
    for search in searches:
        p = search.plan
        if p.repeat:  # the first repeat's bests are re-run (the seed verdict); the others are searches only
            continue
        own = [t for t in trials if t.study_id == search.study_id]
        points = seed_points(seeds, run.exp.seed, ctx.direction, own)
        plan = dataclasses.replace(p, study_name=f"{p.study_name}/seeds", kind=TrialKind.SEEDS, points=tuple(points))
        runs.append(_points_run(ctx, plan, search.study_id))
    if any(r.trials for r in runs):
        tuner.run_points(ctx, [r for r in runs if r.trials], "seeds")
    record_seed_look(ctx.storage.engine, ctx.record.id, n)
