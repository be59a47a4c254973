"""Many users, one database: concurrent ``lorasweep compare`` jobs against one database while
``lorasweep report`` and the optuna-dashboard API poll it.

N jobs (distinct names, the tiny test model, 2 spaces × ``--trials`` trials × ``--max-steps``
steps, ``cpus_per_trial`` = the cluster's CPUs / N) run at once as drivers on one Ray cluster (a
head started here, token auth on), all writing to one database: a throwaway PostgreSQL server
started here (fsync on), and a SQLite file. While they run, one thread builds every experiment's
``report --json`` document again and again (what the command does after its imports: read the
store, summarize, JSON) and another asks ``lorasweep dashboard``'s optuna-dashboard for
``/api/studies`` (with an Accept-Encoding header, as browsers send). Afterwards every job must
have exited 0, every experiment be complete with every study at its budget, and both stores
(lorasweep's tables and Optuna's) hold the same trials, none lost or duplicated.

``--writers 8,16,32,64`` also measures how many concurrent writer processes one SQLite file takes
(no Ray, no training: each process records trials as fast as a search's driver could, Optuna's
ask/tell included) and which error comes past that.

    python benchmarks/db_load.py --jobs 8
    python benchmarks/db_load.py --jobs 8 --backends postgresql --postgres URL   # password: PGPASSWORD
    python benchmarks/db_load.py --jobs 0 --writers 8,16,32,64,128

The last line is the key figure: ``load_errors: N (target 0)``; trials/s and the p95 latencies
of the reports and of the API come above it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lorasweep.testing.ray_head import BIN, free_port, ray_env
from lorasweep.testing.ray_head import ray_head as shared_ray_head

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"


def _env(**extra: str) -> dict[str, str]:
    """A driver's environment: drivers join the head's token-authenticated cluster."""
    return ray_env(RAY_AUTH_MODE="token", **extra)


@contextlib.contextmanager
def ray_head(workdir: Path, cpus: int) -> Iterator[str]:
    """A token-authenticated Ray head with ``cpus`` CPUs (:mod:`lorasweep.testing.ray_head`); its
    GCS address. Stopped, with everything it started, afterwards."""
    with shared_ray_head(workdir, cpus=cpus, env=_env()) as (gcs, _, _):
        yield gcs


def p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


@dataclass
class LoadResult:
    backend: str
    jobs: int
    trials: int = 0  # search trials recorded
    seconds: float = 0.0  # from the first job's start to the last one's end
    report_seconds: list[float] = field(default_factory=list)  # one experiment's report --json each
    api_seconds: list[float] = field(default_factory=list)  # one /api/studies each
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.trials / self.seconds if self.seconds else 0.0
        rep, api = p95(self.report_seconds), p95(self.api_seconds)
        return (
            f"{self.backend:<10} {self.jobs} jobs: {self.trials} trials in {self.seconds:.1f} s "
            f"({rate:.2f} trials/s); report p95 {_s(rep)} (n={len(self.report_seconds)}); "
            f"/api/studies p95 {_s(api)} (n={len(self.api_seconds)}); {len(self.errors)} errors"
        )


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f} s"


class Poller(threading.Thread):
    """Calls ``poll`` until stopped; ``poll`` returns the latencies it measured or raises."""

    def __init__(self, name: str, poll: object, result: LoadResult, latencies: list[float]) -> None:
        super().__init__(name=name, daemon=True)
        self.poll, self.result, self.latencies = poll, result, latencies
        self.stop = threading.Event()

    def once(self) -> None:
        try:
            self.latencies.extend(self.poll())  # type: ignore[operator]
        except Exception as e:
            self.result.errors.append(f"{self.name}: {type(e).__name__}: {' '.join(str(e).split())[:300]}")

    def run(self) -> None:
        while not self.stop.is_set():
            self.once()
            self.stop.wait(0.2)

    def finish(self) -> None:
        """Stop polling, then poll once more (after the jobs: every experiment, every study)."""
        self.stop.set()
        if self.ident is not None:  # it was started
            self.join(timeout=120)
            self.once()


def _reports(url: str) -> list[float]:
    """Every experiment's ``lorasweep report --json`` document, built as the command builds it."""
    from lorasweep.analysis.summary import summarize
    from lorasweep.report.json_report import to_json
    from lorasweep.store import Storage

    took = []
    with Storage.open(url, readonly=True) as st:
        if st.schema_revision() is None:
            return []
        for name in st.experiment_names():
            start = time.perf_counter()
            json.dumps(to_json(summarize(st, st.experiment(name))))
            took.append(time.perf_counter() - start)
    return took


def _studies(port: int) -> list[float]:
    """One ``/api/studies`` request, as a browser makes it; a body without its study_summaries is an error."""
    start = time.perf_counter()
    body = _get_studies(port)
    took = time.perf_counter() - start
    if not isinstance(json.loads(body).get("study_summaries"), list):
        raise ValueError(f"/api/studies answered {body[:200]!r}")
    return [took]


def _job_config(workdir: Path, trials: int, max_steps: int, cpus: float) -> Path:
    config = yaml.safe_load(TINY.read_text())
    config["budget"] = {"trials": trials, "max_steps": max_steps, "eval_every": max_steps}
    config["resources"] = {"cpus_per_trial": cpus}
    config["ray"] = {"storage_path": str(workdir / "ray-results")}
    path = workdir / "load.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def check(url: str, names: list[str], trials: int) -> tuple[int, list[str]]:
    """How many search trials the experiments hold, and what is wrong with them: an experiment not
    complete, a study not at its budget, a trial lost, duplicated or in another state in Optuna."""
    import optuna

    from lorasweep.search.runner import finished
    from lorasweep.store import Storage

    to_optuna = {
        "complete": "COMPLETE",
        "pruned": "PRUNED",
        "failed": "FAIL",
        "diverged": "FAIL",
        "interrupted": "FAIL",
    }
    errors: list[str] = []
    total = 0
    with Storage.open(url, readonly=True) as st:
        ot_storage = None
        for name in names:
            try:
                exp = st.experiment(name)
            except Exception as e:
                errors.append(f"{name}: {e}")
                continue
            if exp.status.value != "complete":
                errors.append(f"{name}: status {exp.status.value}")
            rows = st.trials(exp.id)
            total += len(rows)
            for s in st.studies(exp.id):
                own = [t for t in rows if t.study_id == s.id]
                if sum(finished(t) for t in own) != trials:
                    errors.append(f"{s.optuna_study_name}: {sum(finished(t) for t in own)} trials, budget {trials}")
                numbers = [t.optuna_number for t in own]
                if len(numbers) != len(set(numbers)):
                    errors.append(f"{s.optuna_study_name}: a trial recorded twice")
                if ot_storage is None:
                    from lorasweep.store import optuna_storage

                    ot_storage = optuna_storage(st)
                study = optuna.load_study(study_name=s.optuna_study_name, storage=ot_storage)
                theirs = {t.number: t.state.name for t in study.trials}
                ours = {t.optuna_number: to_optuna[t.state.value] for t in own}
                if theirs != ours:
                    errors.append(f"{s.optuna_study_name}: lorasweep has {ours}, Optuna {theirs}")
    return total, errors


def run_load(
    backend: str,
    url: str,
    gcs: str,
    workdir: Path,
    jobs: int,
    trials: int = 2,
    max_steps: int = 10,
    cpus: int = 2,
    env: dict[str, str] | None = None,
) -> LoadResult:
    """``jobs`` concurrent compare jobs on the cluster at ``gcs`` into ``url``, polled as they run
    (see the module's docstring)."""
    result = LoadResult(backend, jobs)
    env = _env(RAY_ADDRESS=gcs, **(env or {}))
    config = _job_config(workdir, trials, max_steps, cpus / jobs)
    names = [f"load-{i}" for i in range(jobs)]
    port = free_port()
    dashboard: subprocess.Popen[bytes] | None = None
    pollers = [
        Poller("report", lambda: _reports(url), result, result.report_seconds),
        Poller("/api/studies", lambda: _studies(port), result, result.api_seconds),
    ]
    started = time.monotonic()
    procs = {
        name: subprocess.Popen(
            [str(BIN / "lorasweep"), "compare", "--config", str(config), "--storage", url, "--name", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"{name}.err").open("w"),
        )
        for name in names
    }
    listed: set[str] | None = None
    try:
        # the report and the dashboard read the schema and experiments the first job creates
        while not _has_schema(url) and not all(p.poll() is not None for p in procs.values()):
            time.sleep(0.5)
        if _has_schema(url):
            pollers[0].start()
            log = (workdir / "dashboard.log").open("w")
            dashboard = subprocess.Popen(
                [str(BIN / "lorasweep"), "dashboard", "--storage", url, "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _wait_http(port, dashboard)
            pollers[1].start()
        for name, p in procs.items():
            if p.wait(timeout=1800) != 0:
                last = (workdir / f"{name}.err").read_text().strip().splitlines()[-1:] or ["(no output)"]
                result.errors.append(f"{name}: exit {p.returncode}: {last[0][:300]}")
        result.seconds = time.monotonic() - started
        for poller in pollers:
            poller.finish()
        if dashboard is not None:  # what the dashboard lists once every job is done
            listed = {s["study_name"] for s in json.loads(_get_studies(port))["study_summaries"]}
    finally:
        for poller in pollers:
            poller.stop.set()
        for poller in pollers:
            if poller.is_alive():
                poller.join(timeout=120)
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=30)
    total, errors = check(url, names, trials)
    result.trials = total
    result.errors += errors
    if listed is None:
        result.errors.append("the dashboard never started")
    else:
        expected = {f"{name}/{space}/r4" for name in names for space in ("lr_only", "lora_alpha")}
        if missing := expected - listed:
            result.errors.append(f"/api/studies does not list {sorted(missing)}")
    return result


def _has_schema(url: str) -> bool:
    """Whether the database holds an experiment yet (then ``lorasweep dashboard`` can open it)."""
    from lorasweep.store import Storage

    try:
        with Storage.open(url, readonly=True) as st:
            return st.schema_revision() is not None and bool(st.experiment_names())
    except Exception:  # not created yet
        return False


def _get_studies(port: int) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/studies", headers={"Accept-Encoding": "gzip"})
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(request, timeout=60) as response:
        body = response.read()
        return gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body


def _wait_http(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            _get_studies(port)
            return
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lorasweep dashboard did not start on port {port}") from None
            time.sleep(0.3)


# -- SQLite's limit: concurrent writer processes -----------------------------------------------------


def _writer(url: str, index: int, trials: int, reports: int, ready: Any, out: Any) -> None:
    """One process recording ``trials`` trials as a search's driver does, as fast as it can: its
    own experiment and study, then per trial Optuna's ask, lorasweep's start, Optuna's reports and
    tell, lorasweep's finish with the reports (each retried as the search retries it). Puts (trials
    recorded, seconds from the common start, the first error or None) on ``out``."""
    import optuna

    from lorasweep.config import Direction
    from lorasweep.scaling import LoraParams
    from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState, optuna_storage
    from lorasweep.store.storage import retrying

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    lora = LoraParams(rank=4, alpha=8.0, lr=1e-3)
    done, start = 0, time.monotonic()
    try:
        with Storage.open(url) as st:
            ot_storage = optuna_storage(st)
            ready.wait()  # every writer has started Python and opened the database: go
            start = time.monotonic()
            name = f"writer-{index}"
            exp = st.create_experiment(name, "", {})
            row = st.add_study(
                exp.id,
                space="lr_only",
                rank=4,
                optuna_study_name=f"{name}/lr_only/r4",
                metric="accuracy",
                direction=Direction.MAXIMIZE,
                space_config={},
            )
            study = optuna.create_study(storage=ot_storage, study_name=row.optuna_study_name, direction="maximize")
            space = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)}
            for j in range(trials):
                ot = retrying(lambda: study.ask(space), "asking Optuna for a trial")
                trial = st.start_trial(
                    TrialStart(
                        study_id=row.id,
                        ray_trial_id=f"t{j}",
                        optuna_number=ot.number,
                        params=ot.params,
                        lora=lora,
                        seed=0,
                    )
                )
                for step in range(1, reports + 1):
                    retrying(lambda s=step, t=ot: t.report(0.5 + s / 100, s), "reporting to Optuna")

                def tell(t: optuna.Trial = ot) -> None:  # a retry whose first attempt landed does nothing
                    if not study._storage.get_trial(t._trial_id).state.is_finished():
                        study.tell(t, 0.6)

                retrying(tell, "recording a trial in Optuna")
                rows = tuple(
                    ReportRecord(
                        trial_id=trial,
                        step=s,
                        value=0.5 + s / 100,
                        train_loss=0.7,
                        lr=1e-3,
                        examples=s * 16,
                        tokens=s * 512,
                        device_seconds=s * 0.1,
                        metrics={"accuracy": 0.5},
                    )
                    for s in range(1, reports + 1)
                )
                st.finish_trial(
                    trial,
                    TrialFinish(
                        state=TrialState.COMPLETE,
                        final_value=0.6,
                        best_value=0.6,
                        steps=reports,
                        diverged_step=None,
                        error=None,
                        device_seconds=1,
                        wall_seconds=1,
                        examples=16,
                        tokens=512,
                        reports=rows,
                    ),
                )
                done += 1
    except Exception as e:
        message = " ".join(str(getattr(e, "orig", None) or e).split())[:200]
        out.put((done, time.monotonic() - start, f"{type(e).__name__}: {message}"))
        return
    out.put((done, time.monotonic() - start, None))


def sqlite_writers(workdir: Path, writers: int, trials: int, reports: int) -> tuple[float, list[str]]:
    """``writers`` processes recording ``trials`` trials each into one new SQLite file, started
    together once all have opened it: trials/s over all of them, and their errors."""
    from lorasweep.store import Storage, optuna_storage

    url = f"sqlite:///{workdir / f'writers-{writers}.db'}"
    with Storage.open(url, create=True) as st:  # the schema, as `lorasweep db upgrade` makes it
        st.upgrade()
        optuna_storage(st)
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, i, trials, reports, ready, out)) for i in range(writers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    seconds = max(s for _, s, _ in results)
    return sum(n for n, _, _ in results) / seconds, [e for _, _, e in results if e is not None]


# -- main ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="concurrent compare jobs (0: none)")
    parser.add_argument("--trials", type=int, default=2, help="trials per space of each job")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the Ray head the jobs share")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--postgres", default=None, metavar="URL", help="an existing database (default: throwaway)")
    parser.add_argument("--writers", default="", metavar="N,N,...", help="SQLite: writer processes to try")
    parser.add_argument("--writer-trials", type=int, default=20, help="trials each writer process records")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the jobs' logs and files here")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests"))
    results: list[LoadResult] = []
    sweep: list[tuple[int, float, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="lorasweep-load-") as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        if args.jobs:
            with ray_head(work, args.cpus) as gcs:
                for backend in args.backends.split(","):
                    folder = work / backend
                    folder.mkdir()
                    if backend == "sqlite":
                        url = f"sqlite:///{folder / 'load.db'}"
                        results.append(
                            run_load(backend, url, gcs, folder, args.jobs, args.trials, args.max_steps, args.cpus)
                        )
                    elif args.postgres:
                        url = args.postgres
                        results.append(
                            run_load(backend, url, gcs, folder, args.jobs, args.trials, args.max_steps, args.cpus)
                        )
                    else:
                        from postgres import running_server

                        with running_server(durable=True) as server:
                            os.environ["PGPASSWORD"] = server.password  # this process's reads, and the jobs'
                            url = server.url()
                            results.append(
                                run_load(backend, url, gcs, folder, args.jobs, args.trials, args.max_steps, args.cpus)
                            )
                    print(results[-1].line(), flush=True)
                    for error in results[-1].errors[:5]:
                        print(f"  error: {error}", flush=True)
        for n in [int(x) for x in args.writers.split(",") if x.strip()]:
            rate, errors = sqlite_writers(work, n, args.writer_trials, 10)
            sweep.append((n, rate, errors))
            first = f" (first: {errors[0]})" if errors else ""
            print(f"sqlite     {n:>3} writer processes × {args.writer_trials} trials: {rate:7.1f} trials/s, "
                  f"{len(errors)} writers failed{first}", flush=True)  # fmt: skip
    total = sum(len(r.errors) for r in results)
    print(f"load_errors: {total} (target 0)")


if __name__ == "__main__":
    main()
