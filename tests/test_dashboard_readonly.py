"""``lorasweep dashboard`` cannot change a database (issue 24, case 4): a click in optuna-dashboard
that would delete, rename, annotate or tell a study or trial is refused with a reason, the served
app's database connections cannot write either, and the stored rows stay exactly as they were.

Every check goes through real HTTP requests to the real ``lorasweep dashboard`` process, on
SQLite and on a real PostgreSQL server. No test here starts Ray: the database is made through
the store and Optuna, as a finished compare leaves it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from sqlalchemy import create_engine, inspect, text

from lorasweep.config import Direction, load_experiment
from lorasweep.store import Storage, TrialFinish, TrialStart, TrialState, optuna_storage

from conftest import TINY, free_port, run_cli
from factories import lora_params

STUDY = "kept/lr_only/r4"


def _store(url: str) -> None:
    """One experiment with one study and one finished trial, in lorasweep's tables and Optuna's."""
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("kept", "", load_experiment(TINY).model_dump(mode="json"))
        study_id = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name=STUDY,
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        start = TrialStart(
            study_id=study_id, ray_trial_id="t1", optuna_number=0, params={"lr": 1e-3}, lora=lora_params(), seed=0
        )
        trial = st.start_trial(start)
        st.finish_trial(
            trial,
            TrialFinish(
                state=TrialState.COMPLETE,
                final_value=0.7,
                best_value=0.7,
                steps=20,
                diverged_step=None,
                error=None,
                device_seconds=1.0,
                wall_seconds=1.0,
                examples=16,
                tokens=160,
                reports=(),
            ),
        )
        rdb = optuna_storage(st)
        study = optuna.create_study(storage=rdb, study_name=STUDY, direction="maximize")
        study.set_user_attr("experiment", "kept")
        study.enqueue_trial({"lr": 1e-3})
        t = study.ask()
        study.tell(t, 0.7)
        study.ask()  # a running trial: what "tell" and "skip" would act on
        rdb.engine.dispose()


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (ordered), read with a connection of the test's own."""
    engine = create_engine(url)  # (PostgreSQL: libpq takes the password from PGPASSWORD)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
                for name in sorted(inspect(engine).get_table_names())
            }
    finally:
        engine.dispose()


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    _store(db_url)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorasweep", "dashboard", "--storage", db_url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                _request("GET", port, "/api/studies")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"dashboard did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.3)
        yield db_url, port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _request(method: str, port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Accept-Encoding": "gzip", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _ids(url: str) -> tuple[int, int, int]:
    """The Optuna study id and its finished and running trials' ids, as the dashboard names them."""
    with Storage.open(url, readonly=True) as st:
        rdb = optuna_storage(st)
        try:
            study_id = rdb.get_study_id_from_name(STUDY)
            done, running = (rdb.get_trial_id_from_study_id_trial_number(study_id, n) for n in (0, 1))
        finally:
            rdb.engine.dispose()
    return study_id, done, running


def test_every_write_endpoint_is_refused_and_nothing_changes(
    served: tuple[str, int, subprocess.Popen[bytes]],
) -> None:
    """The issue's case (DELETE of a study answered 204 and the study was gone from Optuna's
    tables) and every other endpoint of optuna-dashboard that writes."""
    url, port, _ = served
    study, done, running = _ids(url)
    before = _rows(url)
    writes = [
        ("DELETE", f"/api/studies/{study}", None),
        ("DELETE", f"/api/studies/{study}?remove_associated_artifacts=true", None),
        ("POST", f"/api/studies/{study}/rename", {"study_name": "renamed"}),
        ("POST", "/api/studies", {"study_name": "new", "directions": ["minimize"]}),
        ("PUT", f"/api/studies/{study}/note", {"version": 1, "body": "overwritten"}),
        ("PUT", f"/api/studies/{study}/{done}/note", {"version": 1, "body": "overwritten"}),
        ("POST", f"/api/trials/{running}/tell", {"state": "Complete", "values": [1.0]}),
        ("POST", f"/api/trials/{done}/user-attrs", {"user_attrs": {"x": 1}}),
        ("POST", f"/api/studies/{study}/{running}/skip", None),
        ("DELETE", f"/api/artifacts/{study}/{done}/0123abcd-0000-0000-0000-000000000000", None),
        ("PATCH", f"/api/studies/{study}", {"study_name": "patched"}),
    ]
    for method, path, body in writes:
        status, answer = _request(method, port, path, body)
        assert status == 405, (method, path, status, answer)
        assert answer["reason"].startswith(f"lorasweep dashboard is read-only: {method} {path.split('?')[0]} would"), (
            answer
        )
        assert "nothing changed" in answer["reason"]
    assert _rows(url) == before
    # reading still works, and lorasweep's report still finds every study
    status, answer = _request("GET", port, "/api/studies")
    assert status == 200 and [s["study_name"] for s in answer["study_summaries"]] == [STUDY]
    status, answer = _request("GET", port, f"/api/studies/{study}")
    assert status == 200 and len(answer["trials"]) == 2
    assert optuna.get_all_study_names(url) == [STUDY]  # (PostgreSQL: the password from PGPASSWORD)


def test_the_served_storage_cannot_write_even_past_the_http_guard(db_url: str) -> None:
    """The second wall: the dashboard's Optuna storage is a read-only connection, so a write that
    reached it (a bug, a new endpoint in a later optuna-dashboard) fails in the database."""
    _store(db_url)
    before = _rows(db_url)
    with Storage.open(db_url, readonly=True) as st:
        rdb = optuna_storage(st, read_only=True)
        try:
            study_id = rdb.get_study_id_from_name(STUDY)
            assert [t.value for t in rdb.get_all_trials(study_id) if t.value is not None] == [0.7]  # it reads
            for write in (
                lambda: rdb.delete_study(study_id),
                lambda: rdb.set_study_user_attr(study_id, "x", 1),
                lambda: rdb.create_new_study([optuna.study.StudyDirection.MINIMIZE], "sneaky"),
            ):
                _refused_by_the_database(write)
        finally:
            rdb.engine.dispose()
        _refused_by_the_database(lambda: st.create_experiment("sneaky", "", {}))  # lorasweep's own engine
    assert _rows(db_url) == before


def _refused_by_the_database(write: Any) -> None:
    """``write`` fails because its connection is read-only (SQLite: "attempt to write a readonly
    database"; PostgreSQL: "cannot execute ... in a read-only transaction"), Optuna's wrapping aside."""
    with pytest.raises(Exception) as e:
        write()
    chain = [e.value, e.value.__cause__, e.value.__context__]
    assert any(x is not None and re.search("(?i)read-only|readonly", str(x)) for x in chain), chain


def test_a_database_without_optuna_studies_is_one_line(tmp_path: Path) -> None:
    """A read-only dashboard cannot create Optuna's tables (it used to, silently)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run_cli("db", "upgrade", "--storage", url)[0] == 0
    before = (tmp_path / "new.db").read_bytes()
    code, _, err = run_cli("dashboard", "--storage", url, "--port", str(free_port()))
    assert code == 2, err
    assert err.strip() == (
        f"error: --storage {url}: no search has run on this database yet (it holds no Optuna studies); "
        "run lorasweep compare first"
    )
    assert (tmp_path / "new.db").read_bytes() == before
