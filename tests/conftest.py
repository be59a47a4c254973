from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

DATA = Path(__file__).parent / "data"

from lorasweep.testing.ray_head import RAY_WORKER_PORTS  # noqa: E402  (after the environment above)
from lorasweep.testing.ray_head import free_port as _free_port  # noqa: E402


def free_port(*, outside: range = range(0)) -> int:
    """A TCP port on 127.0.0.1 that is free now (the one helper every test and test module uses),
    not in ``outside`` (a Ray head's: :data:`RAY_WORKER_PORTS`)."""
    return _free_port(outside=outside)


#: The services a test may need, as markers (``pytest -m "not cluster"``); registered in pyproject.toml
#: and applied here from the fixtures a test uses (a module may also mark itself).
SERVICE_MARKERS = {"pg_server": "postgres", "ray_head": "cluster", "ray_cluster": "cluster", "two_nodes": "cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("db_url") == "postgresql" or params.get("backend") == "postgresql":
            used.add("pg_server")  # asked for with request.getfixturevalue
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in used:
                item.add_marker(marker)


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


TINY = DATA / "tiny.yaml"


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and hasattr(ray, "is_initialized") and ray.is_initialized()


@pytest.fixture(autouse=True)
def _ray_only_in_slow_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that starts Ray in this process must be marked slow, so that ``pytest -m 'not slow'``
    stays a fast inner loop. (Tests that start Ray in another process are marked by hand.)"""
    before = _ray_running()
    yield
    if not before and _ray_running() and request.node.get_closest_marker("slow") is None:
        pytest.fail(f"{request.node.nodeid} starts Ray: mark it @pytest.mark.slow", pytrace=False)


@pytest.fixture
def tiny_config() -> Path:
    return TINY


def sqlite_dump(path: Path) -> list[str]:
    """Every row of every table, to show that a command changed nothing."""
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()  # (a with block only commits: the WAL files would stay until garbage collection)


#: The Optuna state (name) of each lorasweep trial state.
OPTUNA_STATE = {
    "complete": "COMPLETE",
    "pruned": "PRUNED",
    "failed": "FAIL",
    "diverged": "FAIL",
    "interrupted": "FAIL",
}


def both_stores(url: str, name: str) -> tuple[Any, list[Any], dict[int, list[Any]]]:
    """Experiment ``name``'s record and trials, and each study's Optuna trials (by study row id),
    after checking that the two stores hold the same trials (none lost, duplicated or extra), in
    the same states, and that none is left running."""
    import optuna

    from lorasweep.store import Storage, TrialState

    with Storage.open(url) as st:
        exp = st.experiment(name)
        trials, studies = st.trials(exp.id), st.studies(exp.id)
    optuna_trials = {}
    for s in studies:
        own = [t for t in trials if t.study_id == s.id]
        numbers = [t.optuna_number for t in own]
        assert len(numbers) == len(set(numbers)), f"{s.optuna_study_name}: a trial recorded twice"
        study = optuna.load_study(study_name=s.optuna_study_name, storage=url)
        assert sorted(t.number for t in study.trials) == sorted(numbers), f"{s.optuna_study_name}: stores differ"
        assert {t.number: t.state.name for t in study.trials} == {
            t.optuna_number: OPTUNA_STATE[t.state.value] for t in own
        }
        optuna_trials[s.id] = study.trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    return exp, trials, optuna_trials


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``lorasweep ARGS`` in this process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from lorasweep.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A real PostgreSQL server for the whole session (see tests/postgres.py)."""
    from postgres import find_bin, running_server

    if find_bin() is None:
        if os.environ.get("CI"):  # .ci/run sets CI: there the PostgreSQL tests must run, not skip
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, createdb) are required on CI; install them")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed (a dev machine; CI has them)")
    with running_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same test over SQLite and over a fresh database on a real PostgreSQL server (its
    password from PGPASSWORD, as a user would give it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    from postgres import fresh_database

    server = request.getfixturevalue("pg_server")
    monkeypatch.setenv("PGPASSWORD", server.password)
    return fresh_database(server)


@pytest.fixture
def ray_temp() -> Iterator[Path]:
    """A short temp dir for a Ray head (Ray's socket paths must stay under 107 bytes)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="lsray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ray_head(tmp_path: Path, ray_temp: Path, pg_server: object) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A Ray head (``ray start --head --block`` on 127.0.0.1, two CPUs) whose job API refuses a
    request without the token; stopped, with everything it started, afterwards. Its environment
    carries the PostgreSQL password file, as a cluster's nodes would. Yields the job API's
    address, the environment of a driver and the head's temp dir. (The one Ray-head fixture:
    :mod:`lorasweep.testing.ray_head` starts it, as it does for ``benchmarks/db_load.py``.)"""
    import time
    import urllib.error
    import urllib.request

    from lorasweep.testing.ray_head import ray_env, start_node, stop_node

    secret = tmp_path / "db_password"
    secret.write_text(pg_server.password + "\n")  # type: ignore[attr-defined]
    secret.chmod(0o600)
    env = ray_env(LORASWEEP_DB_PASSWORD_FILE=str(secret))
    ports = {name: free_port(outside=RAY_WORKER_PORTS) for name in ("gcs", "dashboard", "client")}
    log = tmp_path / "head.log"
    head = start_node(
        [
            "--head",
            "--port",
            str(ports["gcs"]),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(ports["dashboard"]),
            "--ray-client-server-port",
            str(ports["client"]),
            "--temp-dir",
            str(ray_temp),
        ],
        env=env,
        log=log,
        cpus=2,
    )
    address = f"http://127.0.0.1:{ports['dashboard']}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no HTTP proxy for 127.0.0.1
    refused = None
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                direct.open(f"{address}/api/jobs/", timeout=2)
                break
            except urllib.error.HTTPError as e:  # it answers: it is up (and, without a token, refuses)
                refused = e.code
                break
            except OSError:
                if time.monotonic() > deadline or head.poll() is not None:
                    raise AssertionError(f"the Ray head did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        assert refused in (401, 403), f"the job API answered a request without the token ({refused})"
        yield address, env, ray_temp
    finally:
        stop_node(head)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A token-authenticated Ray head (two CPUs) for a module's tests to submit drivers to; its
    GCS address (``127.0.0.1:PORT``)."""
    from lorasweep.testing.ray_head import ray_env, ray_head

    with ray_head(tmp_path_factory.mktemp("ray"), cpus=2, env=ray_env(RAY_AUTH_MODE="token")) as (gcs, _, _):
        yield gcs


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A database holding one finished tiny compare ("tiny": 2 spaces × rank 4 × 4 trials)."""
    path = tmp_path_factory.mktemp("db") / "runs.db"
    url = f"sqlite:///{path}"
    code, _, err = run_cli("compare", "--config", str(TINY), "--storage", url, "--name", "tiny", "--trials", "4")
    assert code == 0, err
    yield url, path
    import ray

    ray.shutdown()


@pytest.fixture
def stored_trial(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A SQLite database holding one experiment ("stored") with one study (``lr_only`` at rank 4)
    and one COMPLETE trial with two reports, written through :class:`~lorasweep.store.Storage`
    (no Ray, no training). Yields the URL and the trial's record, read back."""
    from lorasweep.config import Direction
    from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState

    from factories import config, lora_params

    url = f"sqlite:///{tmp_path / 'stored.db'}"
    exp = config()
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("stored", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="stored/lr_only/r4",
            metric=exp.metric.name,
            direction=Direction.MAXIMIZE,
            space_config={},
        )
        trial_id = st.start_trial(
            TrialStart(
                study_id=study.id, ray_trial_id="t0", optuna_number=0, params={"lr": 1e-3}, lora=lora_params(), seed=0
            )
        )
        reports = tuple(
            ReportRecord(
                trial_id=trial_id,
                step=step,
                value=value,
                train_loss=0.5,
                lr=1e-3,
                examples=16 * step,
                tokens=160 * step,
                device_seconds=float(step),
                metrics={exp.metric.name: value},
            )
            for step, value in ((5, 0.6), (10, 0.8))
        )
        st.finish_trial(
            trial_id,
            TrialFinish(
                state=TrialState.COMPLETE,
                final_value=0.8,
                best_value=0.8,
                steps=10,
                diverged_step=None,
                error=None,
                device_seconds=10.0,
                wall_seconds=12.0,
                examples=160,
                tokens=1600,
                reports=reports,
            ),
        )
        [trial] = st.trials(record.id)
    yield url, trial
