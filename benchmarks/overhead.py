"""Orchestration overhead per trial: ``lorasweep compare`` vs a bare Ray Tune + OptunaSearch script.

Both run the same no-op trainable (it reports ``max_steps / eval_every`` results with a metric
computed from its parameters, and does no training), the same spaces, trial count, TPE seed and
ASHA settings, in one Ray session, alternating. With nothing to compute, wall seconds per trial
*is* the orchestration cost: trial scheduling, actor start-up, Optuna asks/tells and database
writes. Four arms:

- bare (defaults): what a user writes (in-memory Optuna study, ``reuse_actors=False``).
- bare (same settings): the same script with lorasweep's settings (``reuse_actors=True``,
  ``max_concurrent_trials`` and TPE start-up trials from the experiment), in-memory study.
- bare (same, Optuna RDB): that script with its Optuna study in an RDBStorage on SQLite, as
  lorasweep keeps it (so optuna-dashboard can read it): the like-for-like baseline.
- lorasweep: ``run_compare`` with RDB-backed Optuna studies and lorasweep's tables.

    python benchmarks/overhead.py --trials 40 --defaults-trials 20 --repeats 2 --memory-trials 1000
    python benchmarks/overhead.py --repeats 0                     # driver memory at 1,000 trials only
    python benchmarks/overhead.py --memory-trials 0               # the comparison only

The bare (defaults) arm starts a new worker process per trial (~1-3 s each on a 2-core CPU), so
it runs ``--defaults-trials`` per space (default: half of ``--trials``); per-trial figures are
comparable, and its fixed per-run cost (Tuner start, two per run) is then spread over fewer
trials, which makes it look slower per trial by at most that cost over its trial count (the
output prints the counts).

``--memory-trials N`` (default 1,000, about a minute) first runs lorasweep alone on N no-op trials
(N/2 per space) in a fresh process and reports that driver's peak RSS (VmHWM) and its RSS as
trials finish. The default run takes about 5 minutes on a 2-core CPU. The driver
holds the Tune and Optuna state and lorasweep's callbacks (Ray's workers and its GCS/raylet are
other processes, not counted).

The last line is the issue's figure: ``orchestration_ratio: X (target <= 0.5)``, lorasweep's
per-trial overhead over that of the script a user writes (bare defaults, no actor reuse). Above
it, ``overhead_ratio``: lorasweep over the bare script with the same settings and the same kind
of Optuna storage (like for like, target <= 1.1); above that the in-memory ratio. With
``--repeats 0`` only the memory run is made and its figure is the last line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
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
from lorasweep.search.runner import ProgressListener, run_compare
from lorasweep.search.samplers import startup_trials
from lorasweep.space.resolve import distributions
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


def _status_kib(key: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


class RssProgress(ProgressListener):
    """Samples the driver's RSS each time a trial ends."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, int]] = []  # (trials done, RSS KiB)

    def trial_done(self, plan: Any, state: Any, value: float | None) -> None:
        self.samples.append((len(self.samples) + 1, _status_kib("VmRSS")))


def memory_child(trials: int) -> None:
    """Run lorasweep on ``trials`` no-op trials (half per space) and print its driver's memory as
    JSON (the last line)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(TINY, {"budget.trials": trials // 2, "resources.cpus_per_trial": 1})
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    progress = RssProgress()
    before = _status_kib("VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Storage.open(f"sqlite:///{Path(tmp) / 'memory.db'}", create=True) as st:
            run_compare(exp, st, "memory", progress=progress, trainable=noop_trainable)
        seconds = time.perf_counter() - start
    ray.shutdown()
    out = {"trials": len(progress.samples), "seconds": seconds, "before_kib": before, "peak_kib": _status_kib("VmHWM")}
    print(json.dumps({**out, "samples": progress.samples}), flush=True)


def measure_memory(trials: int) -> dict[str, Any]:
    """:func:`memory_child` in a fresh process (this one's memory would count otherwise)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(trials)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"memory run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_lines(m: dict[str, Any]) -> list[str]:
    samples = dict(m["samples"])
    n = m["trials"]
    marks = sorted({k for k in (n // 10, n // 2, n) if k in samples})
    at = ", ".join(f"{k}: {samples[k] / 1024:.0f}" for k in marks)
    first, last = marks[0], marks[-1]
    slope = (samples[last] - samples[first]) / 1024 / max(last - first, 1) * 100
    return [
        f"driver memory, lorasweep on {n} no-op trials ({m['seconds']:.0f} s, {m['seconds'] / n:.3f} s/trial): "
        f"RSS {m['before_kib'] / 1024:.0f} MiB before the search; after N trials (MiB) {at}; "
        f"{slope:+.1f} MiB per 100 trials from {first} on",
        f"driver_peak_rss_{n}: {m['peak_kib'] / 1024:.0f} MiB (peak RSS of the driver, VmHWM)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per space (two spaces)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--defaults-trials",
        type=int,
        default=None,
        help="trials per space of the slow bare (defaults) arm, a new process per trial (default: half of --trials)",
    )
    parser.add_argument(
        "--skip-defaults", action="store_true", help="skip the slow no-actor-reuse arm (e.g. at 1,000 trials)"
    )
    parser.add_argument(
        "--memory-trials",
        type=int,
        default=1000,
        metavar="N",
        help="first measure the driver's memory with lorasweep on N trials, in a fresh process (0: skip)",
    )
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    memory = measure_memory(args.memory_trials) if args.memory_trials else None  # before this process starts Ray
    if args.repeats == 0:
        if memory is None:
            parser.error("--repeats 0 measures nothing without --memory-trials")
        print("\n".join(memory_lines(memory)))
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(TINY, {"budget.trials": args.trials, "resources.cpus_per_trial": 1})
    defaults_trials = args.defaults_trials or max(1, args.trials // 2)
    exp_defaults = load_experiment(TINY, {"budget.trials": defaults_trials, "resources.cpus_per_trial": 1})
    n = args.trials * len(exp.spaces)
    n_defaults = defaults_trials * len(exp.spaces)
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
                times["bare (defaults)"].append(bare(exp_defaults, reuse_actors=False))
            times["bare (same settings)"].append(bare(exp, reuse_actors=True))
            times["bare (same, Optuna RDB)"].append(bare(exp, reuse_actors=True, db=Path(tmp) / f"bare{run}.db"))
            times["lorasweep"].append(lorasweep(exp, Path(tmp), run))
    ray.shutdown()
    print(f"{n} no-op trials per run ({args.trials} per space × {len(exp.spaces)}), {args.repeats} runs, median:")
    per = {k: statistics.median(v) / (n_defaults if k == "bare (defaults)" else n) for k, v in times.items() if v}
    for k, v in per.items():
        note = f"  [{n_defaults} trials per run: a new process per trial]" if k == "bare (defaults)" else ""
        print(f"  {k:<23} {v:.3f} s/trial  ({1 / v:.1f} trials/s){note}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver peak RSS over all arms: {peak:.0f} MiB")
    if memory is not None:
        print("\n".join(memory_lines(memory)))
    print(f"lorasweep orchestration: {per['lorasweep']:.3f} s/trial (target <= 0.3)")
    print(f"vs bare with an in-memory study: {per['lorasweep'] / per['bare (same settings)']:.2f}x")
    print(
        f"overhead_ratio: {per['lorasweep'] / per['bare (same, Optuna RDB)']:.2f} "
        "(target <= 1.1, like for like: vs bare with the same settings + RDBStorage)"
    )
    if "bare (defaults)" in per:
        print(
            f"orchestration_ratio: {per['lorasweep'] / per['bare (defaults)']:.2f} "
            "(target <= 0.5, per-trial overhead vs a plain Tune + OptunaSearch script, no actor reuse)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
