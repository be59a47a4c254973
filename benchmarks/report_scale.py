"""``lorasweep report`` (HTML and JSON) on large databases: seconds at two sizes and how they scale.

For each size it builds a SQLite database through the real schema (``Storage.upgrade``, i.e. the
Alembic migrations), bulk-inserts one experiment (``tests/data/tiny.yaml``, as ``overhead.py``:
spaces ``lr_only`` and ``lora_alpha``, here at ranks 8 and 32, so four studies), its trials and
their per-evaluation reports with SQLAlchemy core ``executemany``, then times the report:

- ``cli``: ``lorasweep report --storage URL --json --out report.html`` in a subprocess, what a
  user runs (interpreter start and imports included), with the child's peak RSS (VmHWM);
- ``in-process``: the same calls the CLI makes (``summarize``, ``to_json`` + ``json.dumps``,
  ``write_html``), modules already imported, phase by phase;
- ``dashboard notes``: ``publish`` (what ``lorasweep report --to-dashboard`` and the search runner
  call) on the four studies, created empty here: the first write and a refresh with nothing changed.

The data: every trial has ``--reports`` evaluations (100: the issue's 10,000 × 100 = 1M report
rows; ASHA would stop pruned trials earlier, so this is the heavier case). Accuracy curves rise
towards a final value that peaks at LR ≈ 3e-4 (lr_only) or c ≈ 256 (lora_alpha), with noise;
about 72 % of trials complete, 20 % are pruned (they plateau lower), 5 % diverge (chance level and
no train loss after their ``diverged_step``), 3 % fail. Reports carry the three evaluation metrics
(JSON), train loss, LR, counters and drift diagnostics. The report does not read Optuna's tables
(only the study names lorasweep keeps); the dashboard phase creates the four studies, empty.

    python benchmarks/report_scale.py --trials 1000 10000 --reports 100

The scaling exponent is ``log(t2/t1) / log(n2/n1)`` of the in-process time (no interpreter
start-up in it; ~1 is linear, ~2 quadratic; below 1, fixed costs such as the inlined plotly.js
still weigh). ``--profile`` prints a cProfile of the in-process report at the largest size. The
HTML draws at most ``MAX_CURVES`` learning curves per space (the best quarter and an even sample,
as its chart title says) with every other chart complete. The last line is the key figure:
``report_seconds_10k: X (target <= 10 s; exponent E)``, the CLI's wall seconds at the largest size.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import math
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from lorasweep.analysis.summary import summarize
from lorasweep.config import Direction, load_experiment
from lorasweep.report.html import write_html
from lorasweep.report.json_report import to_json
from lorasweep.search.runner import optuna_study_name
from lorasweep.space.resolve import at_rank, distributions, resolve
from lorasweep.store import ExperimentStatus, Storage, TrialKind, TrialState, schema

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny.yaml"
RANKS = [8, 32]
EVAL_EVERY = 20
CHUNK = 50_000


def _quality(space: str, params: dict[str, float]) -> float:
    """0..1, peaking at LR = 3e-4 (lr_only) or c = 256 (lora_alpha)."""
    x = math.log10(params["lr"]) - math.log10(3e-4) if space == "lr_only" else math.log10(params["c"] / 256)
    return math.exp(-((x / 0.8) ** 2))


def generate(url: str, n_trials: int, n_reports: int, seed: int = 0) -> dict[str, Any]:
    """A database of one experiment with ``n_trials`` trials × ``n_reports`` reports (see above)."""
    rng = random.Random(seed)
    exp = load_experiment(
        TINY,
        {
            "ranks": RANKS,
            "budget.trials": max(1, n_trials // (len(RANKS) * 2)),
            "budget.max_steps": n_reports * EVAL_EVERY,
            "budget.eval_every": EVAL_EVERY,
        },
    )
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    name = "scale"
    with Storage.open(url, create=True) as st:
        st.upgrade()  # the real schema, through the migrations
        with st.engine.begin() as conn:
            conn.execute(
                insert(schema.Experiment.__table__),
                [
                    {
                        "id": 1,
                        "name": name,
                        "description": exp.description,
                        "config": exp.model_dump(mode="json"),
                        "status": ExperimentStatus.COMPLETE,
                        "created_at": now,
                        "finished_at": now + dt.timedelta(days=2),
                    }
                ],
            )
            plans = [(space, rank) for rank in RANKS for space in exp.spaces]
            conn.execute(
                insert(schema.Study.__table__),
                [
                    {
                        "id": i + 1,
                        "experiment_id": 1,
                        "space": space.name,
                        "rank": rank,
                        "optuna_study_name": optuna_study_name(name, space.name, rank),
                        "metric": "accuracy",
                        "direction": Direction.MAXIMIZE,
                        "space_config": space.model_dump(mode="json"),
                        "started_at": now,
                        "finished_at": now + dt.timedelta(days=2),
                    }
                    for i, (space, rank) in enumerate(plans)
                ],
            )
            searched = [at_rank(space, rank, exp.effective_step) for space, rank in plans]
            trials: list[dict[str, Any]] = []
            reports: list[dict[str, Any]] = []
            n_rows = 0
            clock = now
            for t in range(n_trials):
                study = t % len(plans)
                space, rank = plans[study]
                concrete = searched[study]  # matched ranges made concrete at the rank, as the search does
                params = {
                    k: 10 ** rng.uniform(math.log10(d.low), math.log10(d.high))  # type: ignore[attr-defined]
                    for k, d in distributions(concrete).items()
                }
                lora = resolve(concrete, params, rank).as_dict()
                u = rng.random()
                state = (
                    TrialState.COMPLETE
                    if u < 0.72
                    else TrialState.PRUNED
                    if u < 0.92
                    else TrialState.DIVERGED
                    if u < 0.97
                    else TrialState.FAILED
                )
                final = 0.5 + 0.42 * _quality(space.name, params) + rng.gauss(0, 0.01)
                if state == TrialState.PRUNED:
                    final -= 0.1
                tau = rng.uniform(0.1, 0.4) * n_reports
                diverged = rng.randrange(1, n_reports) if state == TrialState.DIVERGED else None
                values: list[float] = []
                trial_id = t + 1
                seconds = 0.0
                for k in range(1, n_reports + 1):
                    step = k * EVAL_EVERY
                    dead = diverged is not None and k >= diverged
                    value = 0.5 if dead else 0.5 + (final - 0.5) * (1 - math.exp(-k / tau)) + rng.gauss(0, 0.005)
                    values.append(value)
                    seconds += rng.uniform(0.9, 1.1)
                    drift_ratio = 10 ** rng.uniform(-3, -1)
                    reports.append(
                        {
                            "trial_id": trial_id,
                            "step": step,
                            "value": value,
                            "train_loss": None if dead else 0.7 * math.exp(-k / tau) + 0.1,
                            "lr": lora["lr"] * (1 - k / (n_reports + 1)),
                            "examples": step * 32,
                            "tokens": step * 32 * 48,
                            "device_seconds": seconds,
                            "metrics": {"accuracy": value, "f1": value - 0.01, "eval_loss": 1.2 - value},
                            "signal": 1e-3,
                            "drift": drift_ratio * 1e-3,
                            "drift_ratio": drift_ratio,
                        }
                    )
                clock += dt.timedelta(seconds=seconds + 2)
                trials.append(
                    {
                        "id": trial_id,
                        "study_id": study + 1,
                        "ray_trial_id": f"{t:08x}",
                        "optuna_number": t // len(plans),
                        "state": state,
                        "kind": TrialKind.SEARCH,
                        "params": params,
                        "seed": exp.seed,
                        **{k: v for k, v in lora.items() if k != "loraplus_lr_ratio"},
                        "final_value": values[-1] if state == TrialState.COMPLETE else None,
                        "best_value": max(values) if state != TrialState.FAILED else None,
                        "steps": n_reports * EVAL_EVERY,
                        "diverged_step": diverged * EVAL_EVERY if diverged else None,
                        "error": "RuntimeError: CUDA error: an illegal memory access" if u >= 0.97 else None,
                        "retries": 0,
                        "checkpoint": None,
                        "started_at": clock - dt.timedelta(seconds=seconds),
                        "finished_at": clock,
                        "device_seconds": seconds,
                        "wall_seconds": seconds + 1.5,
                        "examples": n_reports * EVAL_EVERY * 32,
                        "tokens": n_reports * EVAL_EVERY * 32 * 48,
                    }
                )
                if len(reports) >= CHUNK:  # trials first: the reports reference them
                    conn.execute(insert(schema.Trial.__table__), trials)
                    conn.execute(insert(schema.Report.__table__), reports)
                    n_rows += len(reports)
                    trials, reports = [], []
            if trials:
                conn.execute(insert(schema.Trial.__table__), trials)
            if reports:
                conn.execute(insert(schema.Report.__table__), reports)
                n_rows += len(reports)
    return {"trials": n_trials, "reports": n_rows}


def report_in_process(url: str, out: Path) -> dict[str, float]:
    """What ``lorasweep report --json --out`` does (cli.report), phase by phase."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    with Storage.open(url) as st:
        st.check_schema()
        summary = summarize(st, st.experiment(None))
    times["summarize"] = time.perf_counter() - start
    t = time.perf_counter()
    text = json.dumps(to_json(summary), indent=2)
    times["json"] = time.perf_counter() - t
    t = time.perf_counter()
    write_html(summary, out)
    times["html"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    assert text
    return times


def dashboard_notes(url: str) -> tuple[float, float, float]:
    """``lorasweep report --to-dashboard`` in process, on the experiment's studies (created here,
    empty, with the ``experiment`` user attr the search sets): seconds for the first write, seconds
    for a refresh with nothing changed, and KiB of note and charts stored per study."""
    import optuna

    from lorasweep.report.optuna_dashboard import publish
    from lorasweep.store import optuna_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with Storage.open(url) as st:
        ot = optuna_storage(st)
        record = st.experiment(None)
        names = [s.optuna_study_name for s in st.studies(record.id)]
        for name in names:
            study = optuna.create_study(storage=ot, study_name=name, direction="maximize", load_if_exists=True)
            study.set_user_attr("experiment", record.name)
        start = time.perf_counter()
        first = publish(st, record)
        t_first = time.perf_counter() - start
        start = time.perf_counter()
        again = publish(st, record)
        t_again = time.perf_counter() - start
        assert len(first.notes) == len(names) and len(again.unchanged) == len(names), (first, again)
        attrs = ot.get_study_system_attrs(ot.get_study_id_from_name(names[0]))
        kib = sum(len(str(v)) for k, v in attrs.items() if k.startswith("dashboard:")) / 1024
    return t_first, t_again, kib


#: ``python -m lorasweep`` that also prints its peak RSS (VmHWM) last on stderr. Not ru_maxrss: a
#: child forked from this big process would count this process's pages before its exec.
CLI = (
    "import atexit, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('peak_kib', line.split()[1], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "from lorasweep.cli import main\n"
    "main()\n"
)


def report_cli(url: str, out: Path) -> tuple[float, float, int]:
    """``lorasweep report --json --out`` in a subprocess: wall seconds, peak RSS (MiB), JSON bytes."""
    with tempfile.TemporaryFile() as stdout:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CLI, "report", "--storage", url, "--json", "--out", str(out)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"lorasweep report failed ({proc.returncode}):\n{proc.stderr}")
        peaks = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("peak_kib ")]
        size = stdout.tell()
        stdout.seek(0)
        json.loads(stdout.read())  # the JSON parses
    return elapsed, int(peaks[-1]) / 1024 if peaks else math.nan, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs=2, default=[1000, 10000], metavar=("N1", "N2"))
    parser.add_argument("--reports", type=int, default=100, help="reports (evaluations) per trial")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process report at N2")
    parser.add_argument("--keep", type=Path, default=None, help="keep the databases and reports in this folder")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict[str, Any]] = {}
    for n in args.trials:
        db = folder / f"report_{n}.db"
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        start = time.perf_counter()
        made = generate(url, n, args.reports)
        gen = time.perf_counter() - start
        html = folder / f"report_{n}.html"
        inproc = report_in_process(url, html)
        cli, rss, json_bytes = report_cli(url, html)
        notes_first, notes_again, notes_kib = dashboard_notes(url)
        rows[n] = {
            **made,
            "generate": gen,
            "db_mib": db.stat().st_size / 2**20,
            "in": inproc,
            "cli": cli,
            "rss": rss,
            "html_mib": html.stat().st_size / 2**20,
            "json_kib": json_bytes / 1024,
        }
        r = rows[n]
        print(
            f"{n:>6} trials, {r['reports']:>9,} reports (db {r['db_mib']:.0f} MiB, built in {gen:.1f} s): "
            f"cli {cli:.2f} s (peak RSS {rss:.0f} MiB); in-process {inproc['total']:.2f} s = summarize "
            f"{inproc['summarize']:.2f} + json {inproc['json']:.2f} + html {inproc['html']:.2f}; "
            f"HTML {r['html_mib']:.1f} MiB, JSON {r['json_kib']:.0f} KiB; dashboard notes + charts on "
            f"{len(RANKS) * 2} studies {notes_first:.2f} s, refresh unchanged {notes_again:.2f} s, "
            f"{notes_kib:.0f} KiB per study",
            flush=True,
        )
        if args.profile and n == args.trials[-1]:
            prof = cProfile.Profile()
            prof.enable()
            report_in_process(url, html)
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
            print(buf.getvalue())
    n1, n2 = args.trials
    scale = math.log(n2 / n1)
    exp_in = math.log(rows[n2]["in"]["total"] / rows[n1]["in"]["total"]) / scale
    exp_cli = math.log(rows[n2]["cli"] / rows[n1]["cli"]) / scale
    exp_sum = math.log(rows[n2]["in"]["summarize"] / rows[n1]["in"]["summarize"]) / scale
    print(
        f"scaling exponent {n1} -> {n2} trials: in-process {exp_in:.2f} (summarize {exp_sum:.2f}), "
        f"cli {exp_cli:.2f} (1 = linear, 2 = quadratic)"
    )
    label = f"{n2 // 1000}k" if n2 % 1000 == 0 else str(n2)
    print(f"report_seconds_{label}: {rows[n2]['cli']:.1f} (target <= 10 s; exponent {exp_in:.2f})")
    tmp.cleanup()


if __name__ == "__main__":
    main()
