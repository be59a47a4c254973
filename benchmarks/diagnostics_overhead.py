"""Cost of the signal/drift diagnostics: one trial on the default task with diagnostics at the
default cadence vs off, alternating (same model, data, seed and steps).

    python benchmarks/diagnostics_overhead.py --pairs 3

Prints the median seconds per trial of each arm; the last line is the key figure,
``diagnostics_overhead: X% (target <= 3%)``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lorasweep.config import TrainingConfig, load_experiment
from lorasweep.scaling import LoraParams
from lorasweep.train.diagnostics import LoraDiagnostics
from lorasweep.train.model import quiet_transformers
from lorasweep.train.train import run_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_transformers()
    cadence = TrainingConfig().diagnostics_every
    arms = {
        f"every {cadence} steps": load_experiment(args.config),
        "off": load_experiment(args.config, {"training.diagnostics_every": 0}),
    }
    base = next(iter(arms.values()))
    prepared = base.task.prepare_workload(base.model)
    lora = LoraParams(rank=base.ranks[0], alpha=2.0 * base.ranks[0], lr=3e-3)
    run_trial(arms["off"], lora, seed=base.seed, report=lambda r: None, workload=prepared)  # warm-up: caches, allocator
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for i in range(args.pairs):
        for name in names if i % 2 == 0 else reversed(names):  # ABBA: no arm always runs first
            start = time.perf_counter()
            run_trial(arms[name], lora, seed=base.seed, report=lambda r: None, workload=prepared)
            times[name].append(time.perf_counter() - start)
    on, off = (statistics.median(times[n]) for n in names)

    # The same cost measured directly: one measurement on this model, times the trial's count.
    model = prepared.with_lora(base.model, base.seed, lora)
    diagnostics = LoraDiagnostics(model)
    start = time.perf_counter()
    for _ in range(50):
        diagnostics.before_step()
        diagnostics.after_step()
    per_measurement = (time.perf_counter() - start) / 50
    measured = base.budget.max_steps // cadence

    print(f"{base.budget.max_steps}-step trial on {args.config}, {args.pairs} alternating (ABBA) pairs, median:")
    for name, values in times.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  diagnostics {name:<16} {statistics.median(values):.2f} s  (all: {each})")
    print(
        f"direct: {per_measurement * 1e3:.2f} ms per measurement × {measured} per trial = "
        f"{100 * per_measurement * measured / off:.2f}% of a trial ({len(diagnostics.module_names)} LoRA modules)"
    )
    print(f"diagnostics_overhead: {100 * (on / off - 1):+.1f}% (target <= 3%)")


if __name__ == "__main__":
    main()
