"""What a trustworthy answer costs: the default comparison with K = 1, 3, 5 … repeated searches.

Runs ``compare --repeats K_MAX`` once (real trials, the experiment's own budget and scheduler)
and prints, for each K in ``--ks``, what an experiment with K repeats spends and says: the
device-seconds of its searches, the wall time, the repeat verdict and, per space, the median best
and how many repeats reached the target. The first K repeats of one K_MAX run are the K repeats a
``--repeats K`` run would have run: repeat i has the same sampler seed either way, and each study
has its own scheduler (``PerStudyScheduler``), so only the interleaving — and so the wall clock —
differs. Wall time for K is the K_MAX run's wall time scaled by the device-seconds share (an
estimate, labelled as such).

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/repeats_cost.py --ks 1,3,5
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/repeats_cost.py --config tests/data/tiny.yaml --ks 1,2

Last line: ``repeats_cost: K=… device-s …, verdict …`` for the largest K.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from lorasweep.analysis.repeats import repeat_comparison
from lorasweep.analysis.summary import ExperimentSummary, summarize
from lorasweep.config import load_experiment
from lorasweep.search.runner import run_compare
from lorasweep.store import Storage


def first_repeats(summary: ExperimentSummary, k: int) -> ExperimentSummary:
    """``summary`` as an experiment with only its first ``k`` repeats would read."""
    kept = {space: {i: ts for i, ts in by.items() if i < k} for space, by in summary.repeat_trials.items()}
    return dataclasses.replace(summary, repeat_trials=kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--ks", default="1,3,5", help="repeat counts to report, e.g. 1,3,5 (the largest is run)")
    ap.add_argument("--storage", default=None, help="keep the run in this database (default: a temporary one)")
    args = ap.parse_args()
    ks = sorted({int(k) for k in args.ks.split(",")})
    if ks[0] < 1:
        ap.error("--ks: repeat counts start at 1")
    exp = load_experiment(args.config, {"repeats": max(ks, default=1) if max(ks) > 1 else 2})
    with tempfile.TemporaryDirectory() as d:
        url = args.storage or f"sqlite:///{Path(d) / 'repeats_cost.db'}"
        with Storage.open(url, create=True) as st:
            started = time.perf_counter()
            record = run_compare(exp, st, f"repeats-cost-{int(time.time())}")
            wall = time.perf_counter() - started
            summary = summarize(st, record)
    total = sum(t.device_seconds for by in summary.repeat_trials.values() for ts in by.values() for t in ts)
    print(
        f"{exp.repeats} repeats × {len(exp.spaces)} spaces × ranks {exp.ranks}, {exp.budget.trials} trials × "
        f"{exp.budget.max_steps} steps each, {exp.scheduler.name.value}: {wall:.0f} s wall, {total:.0f} device-s"
    )
    print(f"{'K':>3}  {'device-s':>9}  {'wall (est.)':>11}  verdict")
    last = ""
    for k in ks:
        part = first_repeats(summary, k)
        spent = sum(t.device_seconds for by in part.repeat_trials.values() for ts in by.values() for t in ts)
        rc = repeat_comparison(part) if k >= 2 else None
        verdict = rc.verdict.text if rc is not None and rc.verdict is not None else "one search: no repeat verdict"
        print(f"{k:>3}  {spent:>9.0f}  {wall * spent / total if total else 0:>10.0f}s  {verdict}")
        if rc is not None:
            for space in rc.spaces:
                values = [r.value for r in rc.of(space) if r.value is not None]
                median = statistics.median(values) if values else None
                reached = sum(c.reached for key, c in rc.cost.items() if key.split(" r=")[0] == space)
                shown = f"{median:.4g}" if median is not None else "none"
                print(f"       {space}: median best {shown} over {len(values)} repeats; target reached in {reached}")
        decided = rc is not None and rc.verdict is not None and rc.verdict.winner is not None
        last = f"repeats_cost: K={k} {spent:.0f} device-s, verdict {'decided' if decided else 'not decided'}"
    print(last)


if __name__ == "__main__":
    main()
