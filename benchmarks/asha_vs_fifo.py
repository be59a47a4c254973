"""Is early stopping fair to both spaces? The same repeated comparison with ASHA and with FIFO.

Runs ``compare`` twice on one experiment config, same seeds, repeats and budget: once with the
config's ASHA scheduler, once with FIFO. Prints per scheduler and space the median best over
repeats, the pruned trials and the steps they stopped at, the repeat verdict, and whether the
winner (or the leader by median best) changed. Real trials (no scripting): use a small config on
a busy machine, e.g.

    nice -n 10 .venv/bin/python benchmarks/asha_vs_fifo.py --config tests/data/tiny.yaml --repeats 2 --trials 3

Last line: ``asha_vs_fifo: same leader|leader changed (…)``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lorasweep.analysis.pruning import pruning
from lorasweep.analysis.repeats import repeat_comparison
from lorasweep.analysis.summary import summarize
from lorasweep.config import load_experiment
from lorasweep.search.runner import run_compare
from lorasweep.store import Storage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    args = ap.parse_args()
    overrides: dict = {"repeats": args.repeats}
    if args.trials:
        overrides["budget.trials"] = args.trials
    if args.max_steps:
        overrides["budget.max_steps"] = args.max_steps
    leaders = {}
    with tempfile.TemporaryDirectory() as d, Storage.open(f"sqlite:///{Path(d) / 'b.db'}", create=True) as st:
        for scheduler in ("asha", "fifo"):
            exp = load_experiment(args.config, {**overrides, "scheduler.name": scheduler})
            t0 = time.perf_counter()
            record = run_compare(exp, st, f"b-{scheduler}")
            wall = time.perf_counter() - t0
            summary = summarize(st, record)
            rc = repeat_comparison(summary)
            pr = pruning(summary) or {}
            print(f"== {scheduler}: {wall:.0f} s wall, {rc.device_seconds if rc else 0:.1f} device-s")
            medians = {}
            for space in summary.spaces:
                values = [r.value for r in (rc.of(space) if rc else []) if r.value is not None]
                medians[space] = statistics.median(values) if values else None
                p = pr.get(space)
                stops = ", ".join(f"step {k}: {v}" for k, v in p.at.items()) if p else ""
                print(
                    f"  {space}: median best {medians[space]}, bests {[r.value for r in rc.of(space)] if rc else []}, "
                    f"pruned {p.pruned if p else 0} ({stops})"
                )
            verdict = rc.verdict if rc else None
            print(f"  repeat verdict: {verdict.text if verdict else 'none'}")
            valued = {k: v for k, v in medians.items() if v is not None}
            leader = max(valued, key=valued.__getitem__) if valued else None
            leaders[scheduler] = (verdict.winner if verdict else None, leader)
    same = leaders["asha"] == leaders["fifo"]
    print(
        f"asha_vs_fifo: {'same leader' if same else 'leader changed'} (asha {leaders['asha']}, fifo {leaders['fifo']})"
    )


if __name__ == "__main__":
    main()
