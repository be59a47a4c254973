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

#: Ray's own worker ports: a port a test chooses for a Ray head lies outside them.
RAY_WORKER_PORTS = range(10002, 20000)


def free_port(*, outside: range = range(0)) -> int:
    """A TCP port on 127.0.0.1 that is free now (the one helper every test and test module uses),
    not in ``outside``."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in outside:
            return port


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
