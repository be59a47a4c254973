"""Starting Ray, and the Tune runs of an experiment.

:func:`run_searches` runs every search study (every space × rank) in ONE Tune run, interleaved:
:class:`~.searchers.InterleavedSearch` hands each new trial to the study that has started the
fewest (each study asks its own Optuna sampler, seeded as before), :class:`~.schedulers.PerStudyScheduler`
routes each trial to its study's own ASHA, and each trial's config names its study, by which the
trainable and the callbacks find its space, rank and row. So no space always runs first on a
loaded machine, and on a cluster no GPU idles at the end of one study while another waits.
:func:`run_points` runs fixed points (seed re-runs, ablation arms) the same way, alternating
between studies.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from typing import Any

import optuna
from ray import tune

from lorasweep.config import ExperimentConfig
from lorasweep.search.plan import RunContext, StudyRun
from lorasweep.search.ray_adapter import check_ray_version
from lorasweep.search.ray_adapter.callbacks import ProgressCallback, StopCallback, StoreCallback
from lorasweep.search.ray_adapter.keys import POINT, STUDY
from lorasweep.search.ray_adapter.resources import check_resources, check_trial_device, resolve_gpu_share
from lorasweep.search.ray_adapter.schedulers import PerStudyScheduler, make_scheduler
from lorasweep.search.ray_adapter.searchers import InterleavedSearch, StudySearch
from lorasweep.search.samplers import make_sampler
from lorasweep.space.resolve import distributions
from lorasweep.train.memory import MemoryProbe


def init_ray(exp: ExperimentConfig, verbose: bool) -> None:
    """Join the cluster named by RAY_ADDRESS (or start a local Ray) and check that one of its
    nodes has the resources one trial asks for, and that a trial's GPU share gets it a device
    (:mod:`.resources`)."""
    import ray

    check_ray_version(ray.__version__)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # lorasweep stops a run on SIGINT itself (runner.stop_signals); Tune's handler would end only
    # the Tune run in progress, as if it had finished
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # a trial's error is stored with the trial and shown by lorasweep in one line (the search goes
    # on); Tune's own traceback per failed trial, and its list of them, only with --verbose
    os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "1" if verbose else "0"
    quiet_incomplete_trials(not verbose)
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
    check_resources(exp, ray.nodes())
    check_trial_device(exp)


class _IncompleteTrials(logging.Filter):
    """Drops Tune's "Trials did not complete: [...]" (lorasweep's own summary counts them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trials did not complete")


_INCOMPLETE = _IncompleteTrials()


def quiet_incomplete_trials(quiet: bool) -> None:
    """Tune's end-of-run list of failed trials hidden (``quiet``) or shown (``--verbose``)."""
    tune_logger = logging.getLogger("ray.tune.tune")
    if quiet:
        tune_logger.addFilter(_INCOMPLETE)
    else:
        tune_logger.removeFilter(_INCOMPLETE)


def choose_gpu_share(exp: ExperimentConfig, probe: MemoryProbe | None = None) -> ExperimentConfig:
    """``exp`` with ``gpus_per_trial: auto`` measured and replaced by a share (see
    :func:`.resources.resolve_gpu_share`); ``exp`` unchanged when its share is a number."""
    return resolve_gpu_share(exp, probe)


def describe_studies(runs: list[StudyRun]) -> str:
    """What the trainable needs to know of each study of a Tune run: its space and rank."""
    return json.dumps(
        {run.key: {"space": run.plan.space.model_dump(mode="json"), "rank": run.plan.rank} for run in runs}
    )


def interleaved_search(ctx: RunContext, runs: list[StudyRun]) -> InterleavedSearch:
    """The searcher of a search run: one :class:`StudySearch` per study (its own sampler and
    seed), interleaved. Simulations drive it without Tune (``tests/repeat_sim.py``)."""
    exp = ctx.exp
    mode = ctx.direction.ray_mode
    searches = {}
    for run in runs:
        if run.sampler_seed is None:
            raise ValueError(f"study {run.key}: a search study needs its sampler's seed")
        dists = distributions(run.plan.space)
        searches[run.key] = StudySearch(
            space=dists,
            metric=ctx.metric,
            mode=mode,
            sampler=make_sampler(exp.sampler, run.sampler_seed, dists, exp.budget.trials),
            storage=ctx.ot_storage,
            study_name=run.plan.study_name,
            points_to_evaluate=[dict(p) for p in run.warm_points] or None,
        )
    return InterleavedSearch(
        searches, {run.key: run.trials for run in runs}, {run.key: run.done for run in runs}, ctx.metric, mode
    )


def run_searches(ctx: RunContext, runs: list[StudyRun]) -> None:
    """Search every study of ``runs`` in one Tune run, interleaved (see the module's docstring)."""
    exp = ctx.exp
    mode = ctx.direction.ray_mode
    search = interleaved_search(ctx, runs)
    scheduler = PerStudyScheduler({run.key: make_scheduler(exp.scheduler, exp.budget) for run in runs})
    _fit(
        ctx,
        runs,
        f"{ctx.name}-search",
        tune.TuneConfig(
            metric=ctx.metric,
            mode=mode,
            search_alg=search,
            scheduler=scheduler,
            num_samples=sum(run.trials for run in runs),
            max_concurrent_trials=exp.max_concurrent_trials,
            reuse_actors=True,
        ),
    )


def interleave(runs: list[StudyRun]) -> list[dict[str, Any]]:
    """Every run's points, each naming its study, taking one from each study in turn."""
    rounds = itertools.zip_longest(*([{**p, STUDY: run.key} for p in run.points] for run in runs))
    return [point for points in rounds for point in points if point is not None]


def run_points(ctx: RunContext, runs: list[StudyRun], name: str) -> None:
    """Run the fixed points of ``runs`` (seed re-runs, ablation arms) in one Tune run, alternating
    between studies; recorded as trials of each run's plan's kind."""
    _fit(
        ctx,
        runs,
        f"{ctx.name}-{name}",
        tune.TuneConfig(max_concurrent_trials=ctx.exp.max_concurrent_trials, reuse_actors=True),
        param_space={POINT: tune.grid_search(interleave(runs))},
    )


def _fit(
    ctx: RunContext,
    runs: list[StudyRun],
    name: str,
    tune_config: tune.TuneConfig,
    param_space: dict[str, Any] | None = None,
) -> None:
    """One Tune run over ``runs``' studies, recorded in the store as it goes. Each study that
    ends its row ends it when its last trial ends; if the run stops early, when the run does.
    A stop asked for (``ctx.stop``) raises :class:`~lorasweep.search.plan.RunInterrupted` before
    the run starts or at the Tune loop's next step (:class:`~.callbacks.StopCallback`)."""
    exp = ctx.exp
    ctx.stop.check()
    store = StoreCallback(
        ctx.storage,
        runs,
        exp.seed,
        ctx.metric,
        ctx.direction,
        exp.resources.gpus_per_trial,
        reported=exp.task.metric_names,
        stop=ctx.stop,
    )
    trainable = tune.with_resources(
        tune.with_parameters(
            ctx.trainable,
            experiment_json=ctx.experiment_json,
            studies_json=describe_studies(runs),
            verbose=ctx.verbose,
        ),
        {"cpu": exp.resources.cpus_per_trial, "gpu": exp.resources.gpus_per_trial},
    )
    run_config = tune.RunConfig(
        name=f"{name}-{int(time.time())}".replace("/", "_"),
        storage_path=exp.ray.storage_path,
        failure_config=tune.FailureConfig(max_failures=exp.ray.max_failures),
        # a trial checkpoints only when its value improved: keeping one keeps its best adapter
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        verbose=2 if ctx.verbose else 0,
        callbacks=[StopCallback(ctx.stop), store, ProgressCallback(ctx.progress, runs, ctx.metric)],
    )
    for run in runs:
        ctx.progress.study_started(run.plan, run.trials)
    try:
        tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config).fit()
    finally:
        for run in runs:
            if run.plan.ends_study and run.key not in store.ended:
                ctx.storage.finish_study(run.study_id)
