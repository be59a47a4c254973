"""``lorasweep compare``: for each rank and each space, one Optuna study searched by Ray Tune.

Every space gets the same budget: the same number of trials, steps, sampler (and seed),
scheduler, seed and data order. All studies run in one Tune run, interleaved (see
:mod:`lorasweep.search.ray_adapter.tuner`), so machine load and noise fall on every space alike.
This module decides what to run and keeps the records straight (resume, warm start, seed
re-runs); Ray is driven only through :mod:`lorasweep.search.ray_adapter`.
"""

from __future__ import annotations

import _thread
import contextlib
import datetime as dt
import json
import logging
import math
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna

from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError, SearchInterrupted
from lorasweep.search.ablation import Arm, arm_of, arm_points, arm_space
from lorasweep.search.guard import check_resume, record_data
from lorasweep.search.plan import (
    Progress,
    RunContext,
    RunInterrupted,
    StopRequest,
    StudyPlan,
    StudyRun,
    optuna_study_name,
)
from lorasweep.search.ray_adapter import tuner
from lorasweep.search.ray_adapter.keys import SEED
from lorasweep.search.ray_adapter.trainable import lorasweep_trainable
from lorasweep.search.samplers import make_sampler
from lorasweep.search.warm_start import check_warm_start
from lorasweep.space.resolve import at_rank, contains, distributions
from lorasweep.store import (
    ExperimentRecord,
    ExperimentStatus,
    Storage,
    TrialFinish,
    TrialKind,
    TrialRecord,
    TrialState,
    optuna_storage,
    safe_url,
)
from lorasweep.store.lease import Lease
from lorasweep.train.train import check_setup

__all__ = [
    "INTERRUPTED",
    "Progress",
    "StudyPlan",
    "finished",
    "optuna_study_name",
    "plan",
    "preflight",
    "resumable",
    "resume_command",
    "run_compare",
    "seed_points",
    "stop_signals",
    "warm_points",
]

log = logging.getLogger("lorasweep.search")

#: How the error of an interrupted trial starts (its state is INTERRUPTED; ``compare --resume``
#: re-runs its budget). Rows written before schema 0007 have state FAILED and this error.
INTERRUPTED = "interrupted"
#: The signals that stop a whole run: Ctrl-C, SIGTERM (``kill``, ``ray job stop``, Kubernetes) and
#: SIGHUP (the SSH session or terminal closed): each ends the run as interrupted, resumable.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the Tune loop has to obey a stop before the main thread is interrupted where it is;
#: well inside ``ray job stop``'s 3 s before its SIGKILL, with time left to record the stop.
STOP_GRACE_S = 1.0
#: Above this many concurrent trials on SQLite, preflight suggests PostgreSQL.
SQLITE_CONCURRENCY = 4


def resumable(
    storage: Storage, name: str, seeds: int | None = None, allow_changed_data: bool = False
) -> tuple[ExperimentConfig, bool]:
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
    check_resume(storage, record, exp, allow_changed_data)
    studies = storage.studies(record.id)
    ablation = exp.ablation is not None and (not exp.spaces or any(arm_of(s.space) for s in studies))
    if seeds is not None:
        if ablation:
            raise LorasweepError(f"--seeds: experiment '{name}' is an ablation; it has no best configs to re-run")
        exp = exp.model_copy(update={"seeds": exp.seeds.model_copy(update={"n": seeds})})
    return exp, ablation


def finished(trial: TrialRecord) -> bool:
    """A trial that used its budget: it ended by itself (complete, pruned, diverged, raised), not
    cut off by a stop or a crash (INTERRUPTED; before schema 0007, FAILED with that error)."""
    if trial.state in (TrialState.RUNNING, TrialState.INTERRUPTED):
        return False
    return not (trial.state == TrialState.FAILED and (trial.error or "").startswith(INTERRUPTED))


def resume_command(name: str, storage_url: str, ablation: bool = False) -> str:
    """The command that continues experiment ``name``: ready to paste, every password masked."""
    command = "ablation" if ablation else "compare"
    return f"lorasweep {command} --resume --name {shlex.quote(name)} --storage {shlex.quote(safe_url(storage_url))}"


@contextmanager
def stop_signals(stop: StopRequest, grace: float = STOP_GRACE_S) -> Iterator[None]:
    """While a run is recorded, SIGINT and SIGTERM stop it as a whole. The first one asks for the
    stop (:class:`StopRequest`), which the Tune loop obeys at its next step; if the run is not
    stopped ``grace`` seconds later (the main thread busy elsewhere, e.g. in Ray calls to a local
    Ray that the same SIGTERM to the process group stopped), the main thread is interrupted where
    it is, as by a second signal. While the stop is recorded, further signals are ignored (only
    SIGKILL cuts that short). Tune's own SIGINT handler is off (``init_ray``), and Ray's SIGTERM
    handler (``sys.exit``) is replaced for that time.

    Signals reach only the main thread: a run in another thread keeps the handlers it has."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    timers: list[threading.Timer] = []

    def force() -> None:
        if not stop.closing and stop.signum is not None:
            _thread.interrupt_main(stop.signum)  # runs `handler` in the main thread, which raises

    def handler(signum: int, frame: Any) -> None:
        if stop.closing:
            return
        if stop.requested:
            raise RunInterrupted(stop.signum or signum)
        stop.request(signum)
        timers.append(threading.Timer(grace, force))
        timers[-1].daemon = True
        timers[-1].start()

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        stop.closing = True
        for timer in timers:
            timer.cancel()
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


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
        check_warm_start(storage, exp)
    if storage.url.startswith("sqlite") and exp.max_concurrent_trials > SQLITE_CONCURRENCY:
        log.warning(
            "SQLite with %d concurrent trials: lorasweep writes from one process, so this works on one machine, "
            "but use PostgreSQL (--storage postgresql+psycopg://...) for clusters and dashboards under load",
            exp.max_concurrent_trials,
        )
    tuner.init_ray(exp, verbose)
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
    publish: Callable[[Storage, ExperimentRecord], Any] | None = None,
) -> ExperimentRecord:
    """Run every (rank, space) study of ``exp`` (or, with ablation ``plans``, the ablation's
    points) and record it as experiment ``name``. The studies run in one Tune run, interleaved;
    then, with ``seeds.n``, every study's seed re-runs in another.

    With ``resume`` the experiment exists already (it was stopped, or its driver died): trials left
    RUNNING are marked interrupted (Optuna: FAIL), and only the budget that did not finish is run;
    finished trials are kept as they are.

    ``publish`` (the CLI passes the optuna-dashboard notes) sees the store and the experiment
    when the studies have finished and again at the end.
    SIGINT or SIGTERM during the run (:func:`stop_signals`) stops it as a whole: no trial starts,
    the running ones are recorded as interrupted with the device time they used, the experiment
    as interrupted, and :class:`~lorasweep.errors.SearchInterrupted` says how to resume.

    ``plans`` come from :func:`preflight` (run here when not given). ``trainable`` is the Tune
    function each trial runs (benchmarks swap in a no-op one); it gets the sampled config (with
    the keys of :mod:`lorasweep.search.ray_adapter.keys`, among them the trial's study) and the
    keywords ``experiment_json``, ``studies_json``, ``verbose``."""
    plans = plans if plans is not None else preflight(exp, storage, name, verbose)
    ot_storage = optuna_storage(storage)
    stop = StopRequest()
    with stop_signals(stop), contextlib.ExitStack() as held:
        if not resume:
            storage.upgrade()
        held.enter_context(Lease(storage.engine, name))  # one driver per experiment
        if resume:
            record = storage.experiment(name)
        else:
            record = storage.create_experiment(name, exp.description, exp.model_dump(mode="json"))
            record_data(storage, record, exp)
        ctx = RunContext(exp, storage, record, ot_storage, trainable, progress or Progress(), verbose, stop)
        status, reason = ExperimentStatus.FAILED, f"{INTERRUPTED}: the search stopped with an error"
        signum: int | None = None
        try:
            if resume:
                _close_open_trials(storage, record, plans, ot_storage, f"{INTERRUPTED}: the search process died")
                storage.reopen_experiment(record.id)
            if plans and plans[0].kind == TrialKind.ABLATION:
                _run_ablation(ctx, plans)
            else:
                runs = [_search_run(ctx, p) for p in plans]
                open_runs = [run for run in runs if run.trials > 0]
                if open_runs:
                    tuner.run_searches(ctx, open_runs)
                    if publish is not None:  # e.g. the notes on every study in optuna-dashboard, as they finish
                        publish(storage, record)
                if exp.seeds.n:
                    _run_seeds(ctx, runs)
            stop.check()  # a stop asked for as the last trial ended still ends the run as interrupted
            status = ExperimentStatus.COMPLETE
        except KeyboardInterrupt as e:  # RunInterrupted, or Ctrl-C where the handler is not ours
            signum = stop.signum or (e.signum if isinstance(e, RunInterrupted) else signal.SIGINT)
            status, reason = ExperimentStatus.INTERRUPTED, f"{INTERRUPTED} by {signal.Signals(signum).name}"
        finally:
            stop.closing = True
            ended_at = stop.at or dt.datetime.now(dt.UTC)
            cut = _close_open_trials(storage, record, plans, ot_storage, reason, ended_at, exp.resources.gpus_per_trial)
            storage.finish_experiment(record.id, status)
    if signum is None and publish is not None:  # again after the seed re-runs
        publish(storage, storage.experiment(name))
    if signum is not None:
        trials = f"{cut} running trial{'s' * (cut != 1)} recorded as interrupted"
        ablation = bool(plans) and plans[0].kind == TrialKind.ABLATION
        raise SearchInterrupted(
            f"interrupted by {signal.Signals(signum).name}: {trials}, experiment '{name}' kept as interrupted; "
            f"resume with: {resume_command(name, storage.url, ablation)}",
            signum,
        )
    return storage.experiment(name)


def _close_open_trials(
    storage: Storage,
    record: ExperimentRecord,
    plans: list[StudyPlan],
    ot_storage: optuna.storages.RDBStorage,
    reason: str,
    ended_at: dt.datetime | None = None,
    gpus_per_trial: float = 0.0,
) -> int:
    """Trials still running when the search ends did not finish: INTERRUPTED in lorasweep's
    tables, FAIL in Optuna's; return how many. ``ended_at``: when the search stopped, from which
    their device time is counted (None for a crash found on resume: the end is not known).

    A stop or a crash can fall between Optuna's record of a trial's end and lorasweep's (Ray tells
    the searcher first): a trial Optuna has COMPLETE or PRUNED finished, so lorasweep records the
    end Optuna has (state and value; its reports were not written) instead of calling it
    interrupted. One Optuna has as FAIL may have raised or been cut short: it is interrupted, and
    runs again on resume."""
    names = set(optuna.get_all_study_names(ot_storage))
    studies = {
        p.study_name: optuna.load_study(study_name=p.study_name, storage=ot_storage)
        for p in plans
        if p.study_name in names
    }
    row_study = {s.id: s.optuna_study_name for s in storage.studies(record.id)}
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in storage.trials(record.id):
        study = studies.get(row_study.get(t.study_id, ""))
        if t.state != TrialState.RUNNING or t.optuna_number is None or study is None:
            continue
        ot = next((o for o in study.get_trials(deepcopy=False) if o.number == t.optuna_number), None)
        if ot is not None and ot.state in ended:
            storage.finish_trial(t.id, _finish_from_optuna(ot))
    cut = storage.interrupt_running_trials(record.id, reason, ended_at, gpus_per_trial)
    for name, study in studies.items():
        study_id = ot_storage.get_study_id_from_name(name)
        for ot in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            trial_id = ot_storage.get_trial_id_from_study_id_trial_number(study_id, ot.number)
            ot_storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return cut


def _finish_from_optuna(ot: optuna.trial.FrozenTrial) -> TrialFinish:
    """A trial's end as Optuna recorded it, COMPLETE or PRUNED (its reports are not known)."""
    steps = max(ot.intermediate_values, default=0)
    last = ot.intermediate_values.get(steps) if ot.intermediate_values else None
    if ot.state == optuna.trial.TrialState.COMPLETE:
        state, value = TrialState.COMPLETE, ot.value
    else:
        state, value = TrialState.PRUNED, last
    return TrialFinish(
        state=state,
        final_value=value,
        best_value=value,
        steps=steps,
        diverged_step=None,
        error=None,
        device_seconds=0.0,
        wall_seconds=0.0,
        examples=0,
        tokens=0,
        reports=(),
    )


def _search_run(ctx: RunContext, p: StudyPlan) -> StudyRun:
    """Set up one (space, rank) study (its Optuna study and its row) and say what this run does
    for it. A study that exists already (resume) runs only the trials its budget has left; one
    that has none left is ended (if it was not) and runs nothing."""
    exp, storage, record = ctx.exp, ctx.storage, ctx.record
    study = optuna.create_study(
        storage=ctx.ot_storage, study_name=p.study_name, direction=ctx.direction.value, load_if_exists=True
    )
    for key, value in {
        "experiment": record.name,
        "space": p.space.name,
        "rank": p.rank,
        "metric": ctx.metric,
        "direction": ctx.direction.value,
    }.items():
        study.set_user_attr(key, value)
    row = storage.add_study(
        record.id, p.space.name, p.rank, p.study_name, ctx.metric, ctx.direction, p.space.model_dump(mode="json")
    )
    done = sum(finished(t) for t in storage.trials(record.id) if t.study_id == row.id and t.kind == TrialKind.SEARCH)
    remaining = exp.budget.trials - done
    if remaining <= 0:
        if row.finished_at is None:  # a finished study keeps its end (and wall time)
            storage.finish_study(row.id)
        return StudyRun(p, row.id, 0, done)
    points = warm_points(storage, exp, p) if exp.warm_start is not None and not study.trials else []
    # Each rank's sampler has its own seed (the first rank's is the experiment's), so ranks do not
    # all try the same candidates; a resumed study's is seeded past the trials it has.
    sampler_seed = exp.seed + 1000 * exp.ranks.index(p.rank) + len(study.trials)
    return StudyRun(p, row.id, remaining, done, sampler_seed, tuple(points))


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
    done = direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
    dists = distributions(p.space)
    points = []
    for t in done[: exp.warm_start.top_k]:
        point = {k: float(t.params[k]) for k in dists if k in t.params}
        if len(point) == len(dists) and all(contains(d, point[k]) for k, d in dists.items()):
            points.append(point)
    return points


def seed_points(exp: ExperimentConfig, trials: list[TrialRecord]) -> list[dict[str, Any]]:
    """The re-runs of ``compare --seeds``: the study's ``top_k`` complete search trials (by final
    value), each on ``n`` seeds after the experiment's (seed+1, seed+2, ...)."""
    direction = exp.metric.resolved_direction
    done = [t for t in trials if t.kind == TrialKind.SEARCH and t.state == TrialState.COMPLETE and t.final_value]
    done = direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
    seeds = [exp.seed + 1 + i for i in range(exp.seeds.n)]
    return [{**t.params, SEED: s} for t in done[: exp.seeds.top_k] for s in seeds]


def _point_key(point: dict[str, Any]) -> str:
    return json.dumps({k: round(float(v), 12) for k, v in point.items()}, sort_keys=True)


def _points_run(ctx: RunContext, p: StudyPlan, study_id: int, points: list[dict[str, Any]]) -> StudyRun:
    """The points of ``p`` this run still has to run (resume: those that did not finish)."""
    done = {
        _point_key({**t.params, SEED: t.seed})
        for t in ctx.storage.trials(ctx.record.id)
        if t.study_id == study_id and t.kind == p.kind and finished(t)
    }
    todo = tuple(pt for pt in points if _point_key(pt) not in done)
    return StudyRun(p, study_id, len(todo), points=todo)


def _run_seeds(ctx: RunContext, searches: list[StudyRun]) -> None:
    """Re-run every study's best configs on new seeds, in one Tune run, recorded as SEEDS trials
    of the same studies."""
    trials = ctx.storage.trials(ctx.record.id)
    runs = []
    for search in searches:
        p = search.plan
        points = seed_points(ctx.exp, [t for t in trials if t.study_id == search.study_id])
        plan = StudyPlan(p.space, p.rank, f"{p.study_name}/seeds", TrialKind.SEEDS)
        runs.append(_points_run(ctx, plan, search.study_id, points))
    if any(run.trials for run in runs):
        tuner.run_points(ctx, [run for run in runs if run.trials], "seeds")


def _run_ablation(ctx: RunContext, plans: list[StudyPlan]) -> None:
    """Both arms of the ablation, each a study whose trials are the arm's fixed points, in one
    Tune run."""
    abl = ctx.exp.ablation
    assert abl is not None
    runs = []
    for p in plans:
        arm = arm_of(p.space.name)
        assert arm is not None
        row = ctx.storage.add_study(
            ctx.record.id,
            p.space.name,
            p.rank,
            p.study_name,
            ctx.metric,
            ctx.direction,
            p.space.model_dump(mode="json"),
        )
        run = _points_run(ctx, p, row.id, arm_points(abl, arm, ctx.exp.seed))
        if run.trials:
            runs.append(run)
        elif row.finished_at is None:
            ctx.storage.finish_study(row.id)
    if runs:
        tuner.run_points(ctx, runs, "ablation")
