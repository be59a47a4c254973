"""Orchestration overhead per trial: ``lorasweep compare`` vs a bare Ray Tune + OptunaSearch script.

Both run the same no-op trainable (it reports ``max_steps / eval_every`` results with a metric
computed from its parameters, and does no training), the same spaces, trial count, TPE seed and
ASHA settings, in one Ray session, alternating. With nothing to compute, wall seconds per trial
*is* the orchestration cost: trial scheduling, actor start-up, Optuna asks/tells and database
writes. Three arms:

- bare (defaults): what a user writes (in-memory Optuna study, ``reuse_actors=False``).
- bare (same settings): the same script with lorasweep's settings (``reuse_actors=True``,
  ``max_concurrent_trials`` and TPE start-up trials from the experiment), in-memory study.
- bare (same, Optuna RDB): that script with its Optuna study in an RDBStorage on SQLite, as
  lorasweep keeps it (so optuna-dashboard can read it): the like-for-like baseline.
- lorasweep: ``run_compare`` with RDB-backed Optuna studies and lorasweep's tables.

    python benchmarks/overhead.py --trials 40 --repeats 2

The last line is the key figure: ``overhead_ratio: X (target <= 1.1)``, lorasweep over the bare
script with the same settings and the same kind of Optuna storage; the in-memory ratio is printed
above it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from lorasweep.config import load_experiment
from lorasweep.search.runner import run_compare
from lorasweep.search.samplers import startup_trials
from lorasweep.search.spaces import distributions
from lorasweep.store import Storage

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny.yaml"


def _value(config: dict[str, Any]) -> float:
    """A smooth made-up accuracy peaking at lr=3e-3 or c=256, so TPE and ASHA have work to do."""
    x = math.log10(config["lr"]) + 2.5 if "lr" in config else math.log10(config["c"]) - math.log10(256)
    return 0.5 + 0.45 * math.exp(-(x**2))


def noop_trainable(config: dict[str, Any], *, experiment_json: str, **_: Any) -> None:
    """Reports like a lorasweep trial (step, metric, counters) at the experiment's cadence,
    without training."""
    budget = json.loads(experiment_json)["budget"]
    steps, every = budget["max_steps"], budget["eval_every"]
    for step in range(every, steps + 1, every):
        tune.report(
            {
                "step": step,
                "accuracy": _value(config) * step / steps,
                "f1": 0.0,
                "eval_loss": 1.0,
                "train_loss": 1.0,
                "lr": 0.0,
                "examples": step * 16,
                "tokens": step * 160,
                "device_seconds": 0.0,
                "end": "complete" if step == steps else None,
            }
        )


def bare(exp: Any, reuse_actors: bool, db: Path | None = None) -> float:
    """The script a Ray Tune user writes: one Tuner per space, OptunaSearch in memory (or, with
    ``db``, in an Optuna RDBStorage on that SQLite file)."""
    start = time.perf_counter()
    for space in exp.spaces:
        storage = optuna.storages.RDBStorage(f"sqlite:///{db}") if db else None
        search = OptunaSearch(
            space=distributions(space),
            metric="accuracy",
            mode="max",
            sampler=optuna.samplers.TPESampler(seed=exp.seed, n_startup_trials=startup_trials(exp.budget.trials)),
            storage=storage,
            study_name=f"{space.name}-{time.time_ns()}" if db else None,
        )
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(noop_trainable, experiment_json=exp.model_dump_json()),
                {"cpu": exp.resources.cpus_per_trial},
            ),
            tune_config=tune.TuneConfig(
                metric="accuracy",
                mode="max",
                search_alg=search,
                num_samples=exp.budget.trials,
                max_concurrent_trials=exp.max_concurrent_trials,
                reuse_actors=reuse_actors,
                scheduler=ASHAScheduler(
                    time_attr="step",
                    max_t=exp.budget.max_steps,
                    grace_period=exp.scheduler.grace_period,
                    reduction_factor=exp.scheduler.reduction_factor,
                ),
            ),
            run_config=tune.RunConfig(verbose=0),
        )
        tuner.fit()
    return time.perf_counter() - start


def lorasweep(exp: Any, workdir: Path, run: int) -> float:
    start = time.perf_counter()
    with Storage.open(f"sqlite:///{workdir / f'bench{run}.db'}", create=True) as st:
        run_compare(exp, st, f"bench{run}", trainable=noop_trainable)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per space (two spaces)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--skip-defaults", action="store_true", help="skip the slow no-actor-reuse arm (e.g. at 1,000 trials)"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(TINY, {"budget.trials": args.trials, "resources.cpus_per_trial": 1})
    n = args.trials * len(exp.spaces)
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    times: dict[str, list[float]] = {
        "bare (defaults)": [],
        "bare (same settings)": [],
        "bare (same, Optuna RDB)": [],
        "lorasweep": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeats):
            if not args.skip_defaults:
                times["bare (defaults)"].append(bare(exp, reuse_actors=False))
            times["bare (same settings)"].append(bare(exp, reuse_actors=True))
            times["bare (same, Optuna RDB)"].append(bare(exp, reuse_actors=True, db=Path(tmp) / f"bare{run}.db"))
            times["lorasweep"].append(lorasweep(exp, Path(tmp), run))
    ray.shutdown()
    print(f"{n} no-op trials per run ({args.trials} per space × {len(exp.spaces)}), {args.repeats} runs, median:")
    per = {k: statistics.median(v) / n for k, v in times.items() if v}
    for k, v in per.items():
        print(f"  {k:<22} {v:.3f} s/trial  ({1 / v:.1f} trials/s)")
    if "bare (defaults)" in per:
        print(f"vs bare defaults: {per['lorasweep'] / per['bare (defaults)']:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver peak RSS over all arms: {peak:.0f} MiB")
    print(f"vs bare with an in-memory study: {per['lorasweep'] / per['bare (same settings)']:.2f}x")
    print(f"lorasweep orchestration: {per['lorasweep']:.3f} s/trial (target <= 0.3)")
    print(
        f"overhead_ratio: {per['lorasweep'] / per['bare (same, Optuna RDB)']:.2f} (target <= 1.1, vs bare + RDBStorage)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
