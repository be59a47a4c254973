"""Search cost on the default task: device-seconds until a trial is within 1 % of the best value,
for four search settings, each space, several seeds.

Settings (everything else is the default experiment: task, model, trials, steps, seed handling):

- random: random sampler, no early stopping (FIFO): the full-budget random search.
- TPE: TPE sampler (lorasweep's start-up trials), no early stopping.
- TPE+ASHA: TPE with ASHA early stopping (the shipped default).
- TPE+ASHA+warm: TPE+ASHA whose studies first evaluate the best configs (``warm_start.top_k``)
  of the TPE+ASHA experiment of the previous seed (cyclically) in the same database
  (``compare --warm-start``).
  That earlier study's cost is not counted (it is printed apart).

Each (setting, seed) is one real ``run_compare`` on the default task (packaged MiniLM + LoRA on
``negated_sentiment``), all experiments in one SQLite file in a temporary folder.

Definitions:

- best value of a space: the best final value of a complete trial over every run of that space in
  this benchmark (all settings and seeds); the target is within ``target.within`` (1 %) of it.
- cost of a run: device-seconds of its trials, summed in the order they finished, until its best
  value so far first reaches the target (``lorasweep.cost.cost_to_target`` on the run's
  ``best_so_far`` curve from ``lorasweep.analysis.summary``). A run that never reaches it
  counts its whole budget, marked ``>`` (a lower bound).
- per setting and space: the median cost over seeds (and each seed's), and its ratio to random's
  median. The best setting is the one whose worst ratio over the spaces is lowest.
- when random search rarely reaches the target (its cost is then only a bound), its trials pooled
  over seeds give a hit rate p, and the cost to a first hit is geometric in trials: the report
  prints that estimate's median and mean, and each setting's median cost over that median.

    python benchmarks/search_cost.py --seeds 3 --trials 6 --max-steps 60   # the defaults

The last line is the key figure: ``search_cost_ratio: X (target <= 0.20, ...)``, the best setting's
worst-space ratio to random search.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Ray starts its workers at niceness 15; on a machine shared with other work that starves the
# trials and the device-seconds measure the other work. At 0 they get a fair share (on an idle
# machine this changes nothing).
os.environ.setdefault("RAY_worker_niceness", "0")

import optuna
import ray

from lorasweep.analysis.summary import SpaceSummary, summarize
from lorasweep.config import Direction, ExperimentConfig, load_experiment
from lorasweep.cost import cost_to_target, reaches, target_value
from lorasweep.search.runner import run_compare
from lorasweep.store import ExperimentStatus, Storage, TrialState

TARGET_RATIO = 0.20


@dataclass(frozen=True)
class Setting:
    label: str
    sampler: str
    scheduler: str
    warm: bool = False


SETTINGS = (
    Setting("random", "random", "fifo"),
    Setting("TPE", "tpe", "fifo"),
    Setting("TPE+ASHA", "tpe", "asha"),
    Setting("TPE+ASHA+warm", "tpe", "asha", warm=True),
)
BASELINE = SETTINGS[0]
#: The setting whose run (of another seed) a warm-started run starts from.
WARM_SOURCE = SETTINGS[2]


@dataclass(frozen=True)
class Run:
    setting: Setting
    seed: int
    spaces: dict[str, SpaceSummary]
    wall_s: float


def experiment_name(setting: Setting, seed: int) -> str:
    return f"{setting.label.lower().replace('+', '-')}-s{seed}"


def overrides(args: argparse.Namespace, setting: Setting, seed: int, warm_from: str | None, tmp: Path) -> dict:
    out: dict[str, Any] = {
        "spaces": args.spaces,
        "seed": seed,
        "budget.trials": args.trials,
        "budget.max_steps": args.max_steps,
        "sampler": {"name": setting.sampler},
        "scheduler.name": setting.scheduler,
        "ray.storage_path": str(tmp / "ray"),
    }
    if warm_from is not None:
        out["warm_start"] = {"experiment": warm_from}
    return out


def warm_source(seeds: list[int], seed: int) -> int:
    """The seed whose TPE+ASHA experiment a warm-started run of ``seed`` starts from: the previous one."""
    return seeds[seeds.index(seed) - 1]


def run_order(seeds: list[int]) -> list[tuple[Setting, int]]:
    """Seed by seed (so a change in the machine's load falls on every setting alike); a warm start
    runs as soon as its source has."""
    order: list[tuple[Setting, int]] = []
    for i, seed in enumerate(seeds):
        order += [(st, seed) for st in SETTINGS if not st.warm]
        done = seeds[: i + 1]
        order += [(st, s) for s in done if warm_source(seeds, s) in done for st in SETTINGS if st.warm]
    return list(dict.fromkeys(order))


def run_or_reuse(storage: Storage, exp: ExperimentConfig, name: str) -> tuple[str, bool]:
    """Run ``exp`` as experiment ``name`` unless the database holds a complete run of it (the same
    config apart from Ray's folder): return the experiment's name and whether it was reused. An
    incomplete one (a killed run) is left as it is and the run takes the next free name."""
    taken = set(storage.experiment_names()) if storage.exists() and storage.schema_revision() else set()
    wanted = {k: v for k, v in exp.model_dump(mode="json").items() if k != "ray"}
    for k in itertools.count(1):
        candidate = name if k == 1 else f"{name}-{k}"
        if candidate not in taken:
            run_compare(exp, storage, candidate)
            return candidate, False
        record = storage.experiment(candidate)
        stored = {k: v for k, v in record.config.items() if k != "ray"}
        if record.status == ExperimentStatus.COMPLETE and stored == wanted:
            return candidate, True
        why = (
            record.status.value
            if record.status != ExperimentStatus.COMPLETE
            else "config differs: " + ", ".join(sorted(config_diff(stored, wanted))[:5])
        )
        print(f"  not reusing '{candidate}' from --db ({why})", flush=True)
    raise AssertionError("unreachable")


def config_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Dotted paths where two dumped configs differ (a key one side lacks counts as null)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a.keys() | b.keys() for d in config_diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)]
    return [] if a == b else [path]


@dataclass(frozen=True)
class Cost:
    """A cost to the target; when not ``reached``, the run's whole spend (a lower bound). ``bound``
    marks a ratio that is only a bound: '>' (a lower one), '<' (an upper one), '?' (neither)."""

    value: float
    reached: bool = True
    bound: str = ""

    def __str__(self) -> str:
        number = f"{self.value:.0f}" if self.value >= 100 else f"{self.value:.3g}"
        return number if self.reached else f">{number}"

    def ratio(self) -> str:
        return f"{self.bound}{self.value:.2f}"


def median(costs: list[Cost]) -> Cost:
    """The median over seeds; a run that never reached the target ranks after every run that did."""
    ordered = sorted(costs, key=lambda c: (not c.reached, c.value))
    mid = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    return Cost(statistics.mean(c.value for c in mid), all(c.reached for c in mid))


def divide(a: Cost, b: Cost) -> Cost:
    bound = "" if a.reached and b.reached else ">" if b.reached else "<" if a.reached else "?"
    return Cost(a.value / b.value, bound=bound)


def run_costs(s: SpaceSummary, target: float, direction: Direction) -> tuple[Cost, Cost]:
    """A run's cost to ``target`` in device-seconds and in optimizer steps (``cost_to_target``
    over its trials in the order they finished, each unit its own sequence).

    Device-seconds: the summary's ``best_so_far`` curve turned back into per-trial increments.
    Steps: each finished trial's steps, with summarize's rule for values (complete trials' final
    values count, pruned/failed ones only cost); steps do not depend on other load on the machine."""
    seconds, spent = [], 0.0
    for total, best in s.best_so_far:
        seconds.append((best, total - spent))
        spent = total
    steps = [
        (t.final_value if t.state == TrialState.COMPLETE else None, float(t.steps))
        for t in s.trials
        if t.finished_at is not None
    ]
    out = []
    for unit in (seconds, steps):
        c = cost_to_target(unit, target, direction)
        out.append(Cost(c) if c is not None else Cost(sum(x for _, x in unit), reached=False))
    return out[0], out[1]


@dataclass(frozen=True)
class HitRate:
    """Random search's trials pooled over seeds: how many reached the target, and the cost to the
    first hit that this rate implies. Random trials are independent draws, so the number of trials
    to the first hit is geometric with p = hits / trials."""

    hits: int
    trials: int
    seconds_per_trial: float

    @property
    def median_seconds(self) -> float | None:
        if not self.hits:
            return None
        p = self.hits / self.trials
        return self.seconds_per_trial * (1.0 if p == 1 else max(1.0, math.log(0.5) / math.log1p(-p)))

    @property
    def mean_seconds(self) -> float | None:
        return self.seconds_per_trial * self.trials / self.hits if self.hits else None


def hit_rate(runs: list[Run], space: str, target: float, direction: Direction) -> HitRate:
    """The pooled hit rate of the baseline's finished trials in ``space``; a trial counts as a hit
    when it is complete and its final value reaches ``target``."""
    trials = [t for r in runs if r.setting == BASELINE for t in r.spaces[space].trials if t.finished_at is not None]
    hits = sum(t.state == TrialState.COMPLETE and reaches(t.final_value, target, direction) for t in trials)
    spent = sum(t.device_seconds for t in trials)
    return HitRate(hits, len(trials), spent / len(trials) if trials else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..n-1 per setting")
    parser.add_argument("--trials", type=int, default=6, help="trials per study (space)")
    parser.add_argument("--max-steps", type=int, default=60, help="optimizer steps per trial")
    parser.add_argument("--spaces", default="lr_only,lora_alpha", help="comma-separated space names")
    parser.add_argument("--config", default="default", help="experiment the settings vary")
    parser.add_argument(
        "--db",
        help="keep the SQLite database here (default: a temporary folder); run again with the same --db to "
        "resume a killed benchmark: complete runs of the same settings are reused",
    )
    args = parser.parse_args()
    args.spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    base = load_experiment(args.config, {"spaces": args.spaces})
    direction, within = base.metric.resolved_direction, base.target.within
    seeds = list(range(args.seeds))
    order = run_order(seeds)
    print(
        f"search cost on '{args.config}' ({base.task.name}, {base.metric.name}): {len(SETTINGS)} settings x "
        f"{len(seeds)} seeds x {len(args.spaces)} spaces, {args.trials} trials of {args.max_steps} steps each; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {dt.date.today()}",
        flush=True,
    )
    if len(seeds) == 1:
        print("note: one seed, so the warm start comes from the same seed's TPE+ASHA run", flush=True)

    runs: list[Run] = []
    names: dict[tuple[str, int], str] = {}  # (setting, seed) → its experiment in the database
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="search_cost-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "search_cost.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        with Storage.open(f"sqlite:///{db}", create=True) as storage:
            for i, (setting, seed) in enumerate(order, 1):
                source = (WARM_SOURCE.label, warm_source(seeds, seed))
                warm_from = names[source] if setting.warm else None
                exp = load_experiment(args.config, overrides(args, setting, seed, warm_from, Path(tmp)))
                t0 = time.perf_counter()
                name, reused = run_or_reuse(storage, exp, experiment_name(setting, seed))
                names[(setting.label, seed)] = name
                summary = summarize(storage, storage.experiment(name))
                runs.append(Run(setting, seed, summary.spaces, time.perf_counter() - t0))
                spaces = ", ".join(
                    f"{n}: best {s.best_value:.3f}, {s.device_seconds:.0f} dev-s, {len(s.trials)} trials"
                    if s.best_value is not None
                    else f"{n}: no complete trial, {s.device_seconds:.0f} dev-s"
                    for n, s in summary.spaces.items()
                )
                took = "kept from --db" if reused else f"{runs[-1].wall_s:.0f} s wall"
                print(
                    f"[{i}/{len(order)}] {setting.label} seed {seed}: {spaces} "
                    f"({took}, {time.perf_counter() - started:.0f} s so far)",
                    flush=True,
                )
    if ray.is_initialized():
        ray.shutdown()

    report(runs, args.spaces, seeds, direction, within, base.metric.name, started)


def report(
    runs: list[Run],
    spaces: list[str],
    seeds: list[int],
    direction: Direction,
    within: float,
    metric: str,
    started: float,
) -> None:
    """The table (device-seconds and, as a contention-free cross-check, optimizer steps) and the key figure."""
    targets: dict[str, tuple[float, float]] = {}
    for space in spaces:
        values = [r.spaces[space].best_value for r in runs if r.spaces[space].best_value is not None]
        if values:
            best = direction.best(values)
            targets[space] = (best, target_value(best, within, direction))
    costs: dict[tuple[str, str], list[tuple[Cost, Cost]]] = {}
    for r in sorted(runs, key=lambda r: r.seed):  # the run order puts warm starts after their sources
        for space, (_, target) in targets.items():
            costs.setdefault((r.setting.label, space), []).append(run_costs(r.spaces[space], target, direction))

    print()
    for space, (best, target) in targets.items():
        print(f"{space}: best {metric} {best:.4f} over all runs; target (within {within:.0%}) {target:.4f}")
    print(
        f"cost to the target per seed (seeds {', '.join(map(str, seeds))}) and median; '>' = not reached "
        "(the run's whole spend, a lower bound; ranked after every reached run)"
    )
    header = (
        f"| setting | space | reached | dev-s to target, median (per seed) | ratio vs {BASELINE.label} "
        f"| steps to target, median (per seed) | ratio vs {BASELINE.label} | total dev-s (median) |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    ratios: dict[str, dict[str, Cost]] = {}
    step_ratios: dict[str, dict[str, Cost]] = {}
    for setting in SETTINGS:
        for space in targets:
            rows = costs[(setting.label, space)]
            dev, steps = [d for d, _ in rows], [s for _, s in rows]
            base_dev, base_steps = (median([c[i] for c in costs[(BASELINE.label, space)]]) for i in (0, 1))
            ratio = ratios.setdefault(setting.label, {})[space] = divide(median(dev), base_dev)
            step_ratio = step_ratios.setdefault(setting.label, {})[space] = divide(median(steps), base_steps)
            total = statistics.median(r.spaces[space].device_seconds for r in runs if r.setting == setting)
            print(
                f"| {setting.label} | {space} | {sum(c.reached for c in dev)}/{len(dev)} "
                f"| {median(dev)} ({', '.join(map(str, dev))}) | {ratio.ratio()} "
                f"| {median(steps)} ({', '.join(map(str, steps))}) | {step_ratio.ratio()} | {Cost(total)} |"
            )
    for space, (_, target) in targets.items():
        rate = hit_rate(runs, space, target, direction)
        line = f"{BASELINE.label} on {space}, pooled over seeds: {rate.hits}/{rate.trials} trials reached the target"
        if rate.median_seconds is not None and rate.mean_seconds is not None:
            meds = {st.label: median([c[0] for c in costs[(st.label, space)]]) for st in SETTINGS if st != BASELINE}
            others = ", ".join(
                f"{label} {'' if m.reached else '>'}{m.value / rate.median_seconds:.2f}" for label, m in meds.items()
            )
            line += (
                f"; cost to a first hit at that rate: median {rate.median_seconds:.0f} dev-s, mean "
                f"{rate.mean_seconds:.0f} dev-s; each setting's median over that median: {others}"
            )
        print(line)
    sources = [r for r in runs if r.setting == WARM_SOURCE]
    if any(st.warm for st in SETTINGS) and sources:
        src = ", ".join(f"{p} {Cost(statistics.median(r.spaces[p].device_seconds for r in sources))}" for p in targets)
        print(f"not counted above: each warm start's earlier {WARM_SOURCE.label} study, median dev-s: {src}")
    print(f"wall time: {time.perf_counter() - started:.0f} s")

    def worst(by_space: dict[str, Cost]) -> Cost:
        return max(by_space.values(), key=lambda c: c.value)

    candidates = [st for st in SETTINGS if st != BASELINE]
    best_setting = min(candidates, key=lambda st: worst(ratios[st.label]).value)
    cold = min((st for st in candidates if not st.warm), key=lambda st: worst(ratios[st.label]).value, default=None)
    by_steps = min(candidates, key=lambda st: worst(step_ratios[st.label]).value)
    if cold is not None and cold != best_setting:
        print(
            f"best setting without a warm start: {cold.label} (worst-space ratio {worst(ratios[cold.label]).ratio()})"
        )
    print(
        f"in optimizer steps instead of device-seconds the best setting is {by_steps.label} "
        f"(worst-space ratio {worst(step_ratios[by_steps.label]).ratio()})"
    )
    print(
        f"search_cost_ratio: {worst(ratios[best_setting.label]).ratio()} (target <= {TARGET_RATIO:.2f}, best setting "
        f"{best_setting.label} vs {BASELINE.label} in device-seconds, worst space of {'/'.join(targets)})"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
