"""Is early stopping fair to both spaces? The same repeated comparison with ASHA and with FIFO.

Runs ``compare`` twice on one experiment config, same seeds, repeats and budget: once with the
config's ASHA scheduler, once with FIFO. Prints per scheduler and space the median best over
repeats, the pruned trials and the steps they stopped at, the repeat verdict, and whether the
winner (or the leader by median best) changed. Real trials (no scripting): use a small config on
a busy machine, e.g.

    nice -n 10 .venv/bin/python benchmarks/asha_vs_fifo.py --config tests/data/tiny.yaml --repeats 2 --trials 3

An ASHA run already stored (e.g. by ``benchmarks/repeats_cost.py --storage URL``) can stand in for
the ASHA arm with ``--storage URL --asha-from NAME``: it is used only when its stored config is the
one this run would use (the same experiment, repeats and budget; the experiment name aside), so the
two arms share every seed, and only FIFO is run.

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
from lorasweep.analysis.summary import ExperimentSummary, summarize
from lorasweep.config import load_experiment
from lorasweep.config.experiment import ExperimentConfig
from lorasweep.search.runner import run_compare
from lorasweep.store import Storage


def same_config(stored: dict, wanted: dict) -> bool:
    """Whether a stored experiment ran the config ``wanted`` (its name aside). The stored config is
    read through today's schema first, so fields added since it ran compare at their defaults."""
    then = ExperimentConfig.model_validate(stored).model_dump(mode="json")
    return {k: v for k, v in then.items() if k != "name"} == {k: v for k, v in wanted.items() if k != "name"}


def report(scheduler: str, summary: ExperimentSummary, wall: float | None) -> tuple[str | None, str | None]:
    """Print one arm's figures; return (the repeat verdict's winner, the leader by median best)."""
    rc = repeat_comparison(summary)
    pr = pruning(summary) or {}
    shown_wall = "stored run" if wall is None else f"{wall:.0f} s wall"
    print(f"== {scheduler}: {shown_wall}, {rc.device_seconds if rc else 0:.1f} device-s")
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
    best = summary.direction.best(valued.values())
    leaders = [k for k, v in valued.items() if v == best]
    leader = leaders[0] if len(leaders) == 1 else ("tie" if leaders else None)
    return (verdict.winner if verdict else None, leader)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--storage", default=None, help="keep the runs in this database (default: a temporary one)")
    ap.add_argument("--asha-from", default=None, help="with --storage: a stored ASHA experiment to use as the ASHA arm")
    args = ap.parse_args()
    if args.asha_from and not args.storage:
        ap.error("--asha-from needs --storage, the database that holds it")
    overrides: dict = {"repeats": args.repeats}
    if args.trials:
        overrides["budget.trials"] = args.trials
    if args.max_steps:
        overrides["budget.max_steps"] = args.max_steps
    leaders = {}
    with tempfile.TemporaryDirectory() as d:
        url = args.storage or f"sqlite:///{Path(d) / 'b.db'}"
        with Storage.open(url, create=True) as st:
            for scheduler in ("asha", "fifo"):
                exp = load_experiment(args.config, {**overrides, "scheduler.name": scheduler})
                if scheduler == "asha" and args.asha_from:
                    record = st.experiment(args.asha_from)
                    if not same_config(record.config, exp.model_dump(mode="json")):
                        ap.error(f"--asha-from {args.asha_from}: its stored config differs from this run's ASHA arm")
                    wall = None
                else:
                    t0 = time.perf_counter()
                    record = run_compare(exp, st, f"b-{scheduler}-{int(time.time())}")
                    wall = time.perf_counter() - t0
                summary = summarize(st, record)
                leaders[scheduler] = report(scheduler, summary, wall)
    same = leaders["asha"] == leaders["fifo"]
    print(
        f"asha_vs_fifo: {'same leader' if same else 'leader changed'} (asha {leaders['asha']}, fifo {leaders['fifo']})"
    )


if __name__ == "__main__":
    main()
