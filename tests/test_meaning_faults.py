"""Inputs checked for meaning, not just syntax (issue 24): data files ``datasets`` would turn into
tracebacks, empty text cells, one-class data, warm starts that cannot mean "best", and one
driver per experiment (the lease rules on a real database; the two-process test is to come).
No test here starts Ray."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path

import pytest
import yaml

from lorasweep.config import Direction, load_experiment
from lorasweep.errors import LorasweepError
from lorasweep.search.warm_start import check_warm_start
from lorasweep.store import ExperimentStatus, Storage
from lorasweep.store.lease import DriverBusy, Lease, holder
from lorasweep.train.datafiles import fingerprint

from conftest import TINY, run_cli

REPO = Path(__file__).resolve().parents[1]

ROWS = [{"sentence": f"the film was {'great' if i % 2 else 'awful'} number {i}", "label": i % 2} for i in range(100)]


def _task(tmp_path: Path, data_file: str) -> Path:
    doc = {
        "name": "files",
        "kind": "classification",
        "num_labels": 2,
        "n_train": 40,
        "n_eval": 20,
        "max_length": 32,
        "data": {"path": data_file, "columns": {"text": "sentence"}},
    }
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


def _write(tmp_path: Path, case: str) -> str:
    if case == "empty":
        (tmp_path / "d.jsonl").write_bytes(b"")
    elif case == "latin1":
        rows = [{**r, "sentence": f"café {i}"} for i, r in enumerate(ROWS)]
        (tmp_path / "d.jsonl").write_bytes(_jsonl(rows).encode("latin-1"))
    elif case == "truncated":
        text = _jsonl(ROWS)
        (tmp_path / "d.jsonl").write_text(text[: len(text) // 2])
    elif case == "not_an_object":
        (tmp_path / "d.jsonl").write_text(_jsonl(ROWS) + "[1, 2]\n" + _jsonl(ROWS))
    elif case == "one_class":
        (tmp_path / "d.jsonl").write_text(_jsonl([{**r, "label": 0} for r in ROWS]))
    elif case == "empty_cells":
        with open(tmp_path / "d.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sentence", "label"])
            for i, r in enumerate(ROWS):
                w.writerow(["" if i % 3 == 0 else r["sentence"], r["label"]])
        return "d.csv"
    elif case == "blank_texts":
        (tmp_path / "d.jsonl").write_text(
            _jsonl([{**r, "sentence": "   "} if i % 5 == 0 else r for i, r in enumerate(ROWS)])
        )
    return "d.jsonl"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty", "the file is empty (0 bytes)"),
        ("latin1", "line 1 is not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        ("truncated", "ends before its record does (the file is truncated)"),
        ("not_an_object", "line 101 is a JSON list, not an object"),
        ("one_class", "the train examples have only label 0"),
        ("empty_cells", "column 'sentence' of split 'train' has"),
        ("blank_texts", "empty or missing cell(s)"),
    ],
)
def test_tasks_validate_says_what_is_wrong_with_the_data_in_one_line(tmp_path: Path, case: str, expected: str) -> None:
    task = _task(tmp_path, _write(tmp_path, case))
    code, out, err = run_cli("tasks", "validate", str(task))
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert "Traceback" not in err and "DatasetGenerationError" not in err and "None" not in lines[0]


def test_good_data_still_validates(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(_jsonl(ROWS))
    code, out, err = run_cli("tasks", "validate", str(_task(tmp_path, "d.jsonl")))
    assert code == 0, err
    assert out.startswith("ok: task files")


def test_the_fingerprint_follows_the_bytes_not_the_path(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(_jsonl(ROWS))
    before = fingerprint([data])
    assert fingerprint([data]) == before
    data.write_text(_jsonl([{**r, "label": 1 - int(r["label"])} for r in ROWS]))  # type: ignore[call-overload]
    assert fingerprint([data]) != before


def _earlier(url: str, metric: str, direction: Direction, space: str) -> None:
    exp = load_experiment(TINY)
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("earlier", "", exp.model_dump(mode="json"))
        st.add_study(
            record.id,
            space=space,
            rank=4,
            optuna_study_name=f"earlier/{space}/r4",
            metric=metric,
            direction=direction,
            space_config={},
        )


@pytest.mark.parametrize(
    ("metric", "direction", "space", "expected"),
    [
        (
            "eval_loss",
            Direction.MINIMIZE,
            "lr_only",
            "optimized eval_loss (minimize), this experiment accuracy (maximize)",
        ),
        ("accuracy", Direction.MAXIMIZE, "rslora", "searched rslora, none of this experiment's spaces"),
    ],
)
def test_warm_start_needs_the_same_metric_direction_and_a_shared_space(
    tmp_path: Path, metric: str, direction: Direction, space: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _earlier(url, metric, direction, space)
    exp = load_experiment(TINY, {"warm_start.experiment": "earlier"})
    with Storage.open(url) as st, pytest.raises(LorasweepError) as e:
        check_warm_start(st, exp)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_warm_start_from_a_matching_experiment_passes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _earlier(url, "accuracy", Direction.MAXIMIZE, "lr_only")
    with Storage.open(url) as st:
        check_warm_start(st, load_experiment(TINY, {"warm_start.experiment": "earlier"}))


def test_warm_start_across_directions_is_refused_by_compare_before_ray(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _earlier(f"sqlite:///{path}", "eval_loss", Direction.MINIMIZE, "lr_only")
    before = path.read_bytes()
    code, out, err = run_cli(
        "compare", "--config", str(TINY), "--storage", f"sqlite:///{path}", "--warm-start", "earlier"
    )
    assert code == 2, (out, err)
    assert err.strip().count("\n") == 0 and "same metric and direction" in err
    assert path.read_bytes() == before


# -- one driver per experiment: the lease --------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Storage.open(f"sqlite:///{tmp_path / 'runs.db'}", create=True) as st:
        st.upgrade()
        yield st.engine


def test_a_second_live_driver_is_refused_naming_the_first(engine) -> None:  # type: ignore[no-untyped-def]
    with Lease(engine, "exp") as first:
        with pytest.raises(DriverBusy) as e:
            Lease(engine, "exp").acquire()
        message = str(e.value)
        assert f"host {socket.gethostname()}, pid {os.getpid()}, since " in message and "\n" not in message
        assert holder(engine, "exp") is not None and holder(engine, "exp").owner == first.owner  # type: ignore[union-attr]
        Lease(engine, "other").acquire()  # another experiment is free
    assert holder(engine, "exp") is None  # released at the end


def test_an_expired_lease_is_taken_over(engine) -> None:  # type: ignore[no-untyped-def]
    dead = Lease(engine, "exp", seconds=0.0)
    dead.host = "another-host"  # its process cannot be checked from here: only expiry frees it
    dead.acquire()
    successor = Lease(engine, "exp")
    successor.acquire()
    assert successor.took_over is not None and successor.took_over.host == "another-host"
    assert holder(engine, "exp").owner == successor.owner  # type: ignore[union-attr]


def test_a_live_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(engine) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = Lease(engine, "exp", seconds=3600)
    dead.pid = gone.pid
    dead.acquire()
    successor = Lease(engine, "exp")
    successor.acquire()
    assert successor.took_over is not None and successor.took_over.pid == gone.pid


def test_a_live_lease_on_another_host_is_not_taken_before_it_expires(engine) -> None:  # type: ignore[no-untyped-def]
    far = Lease(engine, "exp", seconds=3600)
    far.host = "another-host"
    far.acquire()
    with pytest.raises(DriverBusy, match="host another-host"):
        Lease(engine, "exp").acquire()
    assert holder(engine, "exp").expires_at > dt.datetime.now(dt.UTC)  # type: ignore[union-attr]


# -- two real drivers ------------------------------------------------------------------------------


def _driver(*args: str) -> list[str]:
    return [sys.executable, "-m", "lorasweep", *args]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("LORASWEEP_STORAGE", None)
    return env


@pytest.mark.slow
def test_a_resume_while_the_driver_runs_is_refused_and_a_killed_driver_is_taken_over(tmp_path: Path) -> None:
    """Issue 24 case 1: ``compare --resume`` while the original driver runs is one line (exit 2)
    naming it; after kill -9 of the original, ``--resume`` takes its lease over and finishes."""
    import signal
    import subprocess
    import time

    import psutil

    path = tmp_path / "runs.db"
    url = f"sqlite:///{path}"
    config = tmp_path / "exp.yaml"
    doc = yaml.safe_load(TINY.read_text())
    doc["budget"] = {"trials": 30, "max_steps": 20, "eval_every": 10}  # long enough to be caught running
    config.write_text(yaml.safe_dump(doc))
    first = subprocess.Popen(
        _driver("compare", "--config", str(config), "--name", "held", "--storage", url),
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        found = None
        while found is None and time.monotonic() < deadline and first.poll() is None:
            time.sleep(1)
            if path.exists():
                with Storage.open(url, readonly=True) as st:
                    found = holder(st.engine, "held")
        assert found is not None and found.pid == first.pid, "the first driver never held the lease"
        second = subprocess.run(
            _driver("compare", "--resume", "--name", "held", "--storage", url),
            env=_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2, second.stderr
        assert len(lines) == 1 and f"pid {first.pid}, since " in lines[0] and "being run by another" in lines[0]
        family = psutil.Process(first.pid).children(recursive=True)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        for p in family:  # Ray's processes the killed driver started
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
    third = subprocess.run(
        _driver("compare", "--resume", "--name", "held", "--storage", url),
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert third.returncode == 0, third.stderr[-2000:]
    with Storage.open(url, readonly=True) as st:
        assert st.experiment("held").status.value == "complete"
        assert holder(st.engine, "held") is None


def test_resume_on_changed_data_is_refused_unless_allowed(tmp_path: Path) -> None:
    """Issue 24 case 6: the data file changed at the same path since the experiment ran."""
    from lorasweep.search.guard import record_data

    (tmp_path / "d.jsonl").write_text(_jsonl(ROWS))
    doc = yaml.safe_load(TINY.read_text())
    doc["task"] = str(_task(tmp_path, "d.jsonl"))
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(doc))
    exp = load_experiment(config)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("ran", "", exp.model_dump(mode="json"))
        record_data(st, record, exp)
        st.finish_experiment(record.id, ExperimentStatus.INTERRUPTED)
    (tmp_path / "d.jsonl").write_text(_jsonl([{**r, "label": 1 - int(r["label"])} for r in ROWS]))  # type: ignore[call-overload]
    code, out, err = run_cli("compare", "--resume", "--name", "ran", "--storage", url)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (out, err)
    assert "trained on other data" in lines[0] and "--allow-changed-data" in lines[0]
    code, _out, err = run_cli("compare", "--allow-changed-data", "--config", str(config), "--storage", url)
    assert code == 2 and "goes with --resume" in err


# -- whose database: every URL form, name and shape, newer schemas ----------------------------------


def _app_db(path: Path, studies_only: bool = False) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        if not studies_only:
            conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY, title TEXT)")  # its own, not Optuna's


@pytest.mark.parametrize(
    ("form", "studies_only"),
    [
        ("sqlite:///file:{path}?uri=true", False),
        ("sqlite:///file:app.db?uri=true", False),  # relative file: path
        ("sqlite:///{path}", True),  # its one table is called studies
    ],
)
def test_another_applications_sqlite_file_is_refused_in_every_url_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, studies_only: bool
) -> None:
    """Issue 24 case 2: nothing added to the other app's file, its journal mode kept."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "app.db"
    _app_db(path, studies_only)
    before = path.read_bytes()
    code, out, err = run_cli("compare", "--config", str(TINY), "--storage", form.format(path=path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "another application's database" in lines[0], (out, err)
    assert "studies (columns id, title)" in lines[0]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://", "in-memory SQLite database"),
        ("sqlite:///:memory:", "in-memory SQLite database"),
        ("sqlite:///file:x.db?mode=memory&uri=true", "in-memory SQLite database"),
        ("sqlite:///file:{path}?mode=ro&uri=true", "is read-only (mode=ro) and this command writes"),
        ("sqlite:///{path}?mode=ro", "is read-only (mode=ro) and this command writes"),
        ("sqlite:///file:{path}?vfs=unix-none&uri=true", "URI parameter vfs is not supported"),
    ],
)
def test_sqlite_url_forms_a_command_cannot_write_through_are_one_line(
    tmp_path: Path, stored_db: Path, url: str, expected: str
) -> None:
    before = stored_db.read_bytes()
    code, out, err = run_cli("compare", "--config", str(TINY), "--storage", url.format(path=stored_db))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], (out, err)
    assert stored_db.read_bytes() == before


@pytest.fixture
def stored_db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    _earlier(f"sqlite:///{path}", "accuracy", Direction.MAXIMIZE, "lr_only")
    return path


def test_report_reads_through_a_read_only_uri(stored_db: Path) -> None:
    before = stored_db.read_bytes()
    code, out, err = run_cli("report", "--storage", f"sqlite:///file:{stored_db}?mode=ro&uri=true")
    assert code == 0 and "earlier" in out, err
    assert stored_db.read_bytes() == before


def test_a_newer_schema_is_refused_in_one_line_by_every_command(stored_db: Path) -> None:
    import sqlite3

    with sqlite3.connect(stored_db) as conn:
        conn.execute("UPDATE lorasweep_alembic_version SET version_num = '0099'")
    before = stored_db.read_bytes()
    url = f"sqlite:///{stored_db}"
    for command in (
        ["report"],
        ["db", "upgrade"],
        ["compare", "--config", str(TINY)],
        ["export", "--experiment", "earlier", "--space", "lr_only", "--out", str(stored_db.parent / "o.yaml")],
    ):
        code, out, err = run_cli(*command, "--storage", url)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (command, out, err)
        assert "written by a newer lorasweep (schema 0099" in lines[0] and "db upgrade" not in lines[0], command
    assert stored_db.read_bytes() == before


def test_a_refused_compare_keeps_the_journal_mode_of_an_optuna_only_file(tmp_path: Path) -> None:
    import sqlite3

    import optuna

    path = tmp_path / "optuna.db"
    optuna.create_study(storage=f"sqlite:///{path}", study_name="tiny/lr_only/r4")
    code, _out, err = run_cli("compare", "--config", str(TINY), "--storage", f"sqlite:///{path}", "--name", "tiny")
    assert code == 2 and "already exist" in err
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_sighup_stops_a_run_like_sigterm() -> None:
    """A closed SSH session (SIGHUP) asks for the same stop as SIGTERM: the run ends interrupted
    and resumable (exit 129), instead of dying with the experiment left running."""
    import signal

    from lorasweep.search.plan import StopRequest
    from lorasweep.search.runner import stop_signals

    stop = StopRequest()
    with stop_signals(stop, grace=60):
        os.kill(os.getpid(), signal.SIGHUP)
        assert stop.requested and stop.signum == signal.SIGHUP
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
