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
two arms share every seed, and only FIFO is run; ``--fifo-from NAME`` likewise for the FIFO arm
(both given: nothing is trained, the stored runs are compared again).

Then, per space, the trials ASHA stopped whose config (same repeat, rank, r, α and LR) FIFO also
ran: a repeat's first trials are the sampler's random start and identical in both arms, later ones
match where the sampler's history did. For each, its value where ASHA stopped it, its value at the
end under FIFO, and whether that would have beaten the best its ASHA search found: the direct
measure of whether early stopping cost a space its winner.

Last line: ``asha_vs_fifo: same leader|leader changed (…)``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lorasweep.analysis.effective_step import shown_value
from lorasweep.analysis.pruning import pruning
from lorasweep.analysis.repeats import repeat_comparison
from lorasweep.analysis.summary import ExperimentSummary, summarize
from lorasweep.config import load_experiment
from lorasweep.config.experiment import ExperimentConfig
from lorasweep.search.runner import run_compare
from lorasweep.store import Storage, TrialRecord, TrialState


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


def _config_key(space: str, repeat: int, t: TrialRecord) -> tuple:
    return (space, repeat, t.r, f"{t.alpha:.9g}", f"{t.lr:.9g}")


def stopped_then_finished(asha: ExperimentSummary, fifo: ExperimentSummary) -> None:
    """Print, per space, ASHA's stopped trials that FIFO ran to the end with the same config."""
    finished = {
        _config_key(space, i, t): t
        for space, by in fifo.repeat_trials.items()
        for i, ts in by.items()
        for t in ts
        if t.state == TrialState.COMPLETE
    }
    direction = asha.direction
    print("== trials ASHA stopped, run to the end by FIFO (same repeat and config)")
    for space, by in asha.repeat_trials.items():
        pruned = matched = 0
        beat: list[int] = []
        for i, ts in sorted(by.items()):
            values = [v for t in ts if (v := shown_value(t)) is not None]
            best = direction.best(values) if values else None
            for t in ts:
                if t.state != TrialState.PRUNED:
                    continue
                pruned += 1
                twin = finished.get(_config_key(space, i, t))
                if twin is None or twin.final_value is None:
                    continue
                matched += 1
                at, end = shown_value(t) or 0.0, twin.final_value
                wins = best is not None and direction.better(end, best)
                print(
                    f"  {space} repeat {i}: s·LR {t.effective_step:.1e}, stopped at step {t.steps} at {at:.3f}, "
                    f"FIFO end {end:.3f}{' > its ASHA best ' + f'{best:.3f}' if wins else ''}"
                )
                if wins:
                    beat.append(i)
        print(
            f"  {space}: {pruned} stopped, {matched} of them run to the end by FIFO, "
            f"{len(beat)} would have beaten their ASHA search's best{f' (repeats {beat})' if beat else ''}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--storage", default=None, help="keep the runs in this database (default: a temporary one)")
    ap.add_argument("--asha-from", default=None, help="with --storage: a stored ASHA experiment to use as the ASHA arm")
    ap.add_argument("--fifo-from", default=None, help="with --storage: a stored FIFO experiment to use as the FIFO arm")
    args = ap.parse_args()
    if (args.asha_from or args.fifo_from) and not args.storage:
        ap.error("--asha-from and --fifo-from need --storage, the database that holds them")
    overrides: dict = {"repeats": args.repeats}
    if args.trials:
        overrides["budget.trials"] = args.trials
    if args.max_steps:
        overrides["budget.max_steps"] = args.max_steps
    leaders, summaries = {}, {}
    stored = {"asha": args.asha_from, "fifo": args.fifo_from}
    with tempfile.TemporaryDirectory() as d:
        url = args.storage or f"sqlite:///{Path(d) / 'b.db'}"
        with Storage.open(url, create=True) as st:
            for scheduler in ("asha", "fifo"):
                exp = load_experiment(args.config, {**overrides, "scheduler.name": scheduler})
                if name := stored[scheduler]:
                    record = st.experiment(name)
                    if not same_config(record.config, exp.model_dump(mode="json")):
                        ap.error(f"--{scheduler}-from {name}: its stored config differs from this run's arm")
                    wall = None
                else:
                    t0 = time.perf_counter()
                    record = run_compare(exp, st, f"b-{scheduler}-{int(time.time())}")
                    wall = time.perf_counter() - t0
                summary = summaries[scheduler] = summarize(st, record)
                leaders[scheduler] = report(scheduler, summary, wall)
            stopped_then_finished(summaries["asha"], summaries["fifo"])
    same = leaders["asha"] == leaders["fifo"]
    print(
        f"asha_vs_fifo: {'same leader' if same else 'leader changed'} (asha {leaders['asha']}, fifo {leaders['fifo']})"
    )


if __name__ == "__main__":
    main()
