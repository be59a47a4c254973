"""Database writes per second with concurrent writers: PostgreSQL vs SQLite, same run.

Each writer opens its own :class:`~lorasweep.store.Storage` (its own engine, as separate
processes would) and records trials the way a search does: one transaction when a trial starts,
one when it finishes with its reports. SQLite runs with lorasweep's settings (WAL, busy timeout);
PostgreSQL is a throwaway server started here (initdb into a temp dir, fsync on), or ``--postgres
URL`` (password from PGPASSWORD, ~/.pgpass or LORASWEEP_DB_PASSWORD_FILE).

    python benchmarks/db_writes.py --writers 8 --trials 40 --reports 10

The last line is the key figure: ``pg_vs_sqlite_writes: X (PostgreSQL trials/s over SQLite's)``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from lorasweep.config import Direction
from lorasweep.scaling import LoraParams
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState

LORA = LoraParams(rank=8, alpha=16.0, lr=1e-3)


def _write(url: str, study: int, writer: int, trials: int, reports: int, errors: list[BaseException]) -> None:
    try:
        with Storage.open(url) as st:
            for j in range(trials):
                trial = st.start_trial(
                    TrialStart(
                        study_id=study,
                        ray_trial_id=f"w{writer}-{j}",
                        optuna_number=j,
                        params={"lr": 1e-3},
                        lora=LORA,
                        seed=0,
                    )
                )
                rows = tuple(
                    ReportRecord(
                        trial_id=trial,
                        step=s,
                        value=0.5,
                        train_loss=0.7,
                        lr=1e-3,
                        examples=s * 32,
                        tokens=s * 900,
                        device_seconds=s * 0.2,
                        metrics={"accuracy": 0.5, "f1": 0.5},
                    )
                    for s in range(1, reports + 1)
                )
                st.finish_trial(
                    trial,
                    TrialFinish(
                        state=TrialState.COMPLETE,
                        final_value=0.5,
                        best_value=0.5,
                        steps=reports,
                        diverged_step=None,
                        error=None,
                        device_seconds=1.0,
                        wall_seconds=1.0,
                        examples=32,
                        tokens=900,
                        reports=rows,
                    ),
                )
    except BaseException as e:  # reported below
        errors.append(e)


def measure(url: str, writers: int, trials: int, reports: int) -> tuple[float, int]:
    """Seconds for ``writers`` threads to each record ``trials`` trials; and the errors seen."""
    with Storage.open(url, create=True) as st:
        st.upgrade()
        exp = st.create_experiment(f"bench-{time.time_ns()}", "", {})
        study = st.add_study(
            exp.id,
            space="s",
            rank=8,
            optuna_study_name=f"{exp.name}/s/r8",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_write, args=(url, study, i, trials, reports, errors)) for i in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    with Storage.open(url) as st:
        stored = len(st.trials(exp.id))
    if stored != writers * trials:
        errors.append(AssertionError(f"stored {stored} of {writers * trials} trials"))
    for e in errors[:3]:
        print(f"  error: {type(e).__name__}: {e}", file=sys.stderr)
    return elapsed, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=40, help="trials per writer")
    parser.add_argument("--reports", type=int, default=10, help="reports per trial")
    parser.add_argument("--postgres", default=None, metavar="URL", help="an existing database (default: throwaway)")
    args = parser.parse_args()

    total = args.writers * args.trials
    results: dict[str, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL)"] = measure(f"sqlite:///{Path(tmp) / 'w.db'}", args.writers, args.trials, args.reports)
    if args.postgres:
        results["PostgreSQL"] = measure(args.postgres, args.writers, args.trials, args.reports)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import os

        from postgres import running_server

        with running_server(durable=True) as server:
            os.environ["PGPASSWORD"] = server.password
            results["PostgreSQL"] = measure(server.url(), args.writers, args.trials, args.reports)

    print(f"{args.writers} concurrent writers × {args.trials} trials × {args.reports} reports ({total} trials):")
    for name, (seconds, errors) in results.items():
        print(
            f"  {name:<14} {total / seconds:7.1f} trials/s  {total * args.reports / seconds:8.0f} reports/s  "
            f"{errors} errors"
        )
    pg, lite = (total / results[k][0] for k in ("PostgreSQL", "SQLite (WAL)"))
    print(f"pg_vs_sqlite_writes: {pg / lite:.2f} (PostgreSQL trials/s over SQLite's, same run)")


if __name__ == "__main__":
    main()
