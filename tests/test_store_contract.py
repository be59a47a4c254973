"""The store's contract, over SQLite and a real PostgreSQL server: a trial's life, concurrent
writers, a server restart, and passwords that never reach anything stored."""

from __future__ import annotations

import datetime as dt
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lorasweep.config import Direction
from lorasweep.errors import StorageError
from lorasweep.store import (
    ReportRecord,
    Storage,
    TrialFinish,
    TrialKind,
    TrialStart,
    TrialState,
    optuna_storage,
)

from factories import lora_params

LORA = lora_params()


def _study(st: Storage, experiment: str = "e") -> int:
    st.upgrade()
    exp = st.create_experiment(experiment, "", {"k": 1})
    return st.add_study(
        exp.id,
        space="lr_only",
        rank=4,
        optuna_study_name=f"{experiment}/lr_only/r4",
        metric="accuracy",
        direction=Direction.MAXIMIZE,
        space_config={},
    ).id


def _trial(st: Storage, study_id: int, name: str, reports: int = 3, state: TrialState = TrialState.COMPLETE) -> int:
    trial_id = st.start_trial(
        TrialStart(
            study_id=study_id,
            ray_trial_id=name,
            optuna_number=0,
            params={"lr": 1e-3},
            lora=LORA,
            seed=0,
            kind=TrialKind.SEARCH,
        )
    )
    records = tuple(
        ReportRecord(
            trial_id=trial_id,
            step=step,
            value=0.5 + step / 100,
            train_loss=0.7,
            lr=1e-3,
            examples=step * 8,
            tokens=step * 80,
            device_seconds=step * 0.1,
            metrics={"accuracy": 0.5},
        )
        for step in range(1, reports + 1)
    )
    st.finish_trial(
        trial_id,
        TrialFinish(
            state=state,
            final_value=0.53,
            best_value=0.53,
            steps=reports,
            diverged_step=None,
            error=None,
            device_seconds=0.3,
            wall_seconds=0.4,
            examples=reports * 8,
            tokens=reports * 80,
            reports=records,
        ),
    )
    return trial_id


def test_a_trial_and_its_reports_round_trip(db_url: str) -> None:
    with Storage.open(db_url, create=True) as st:
        study = _study(st)
        _trial(st, study, "t1")
        running = st.start_trial(
            TrialStart(study_id=study, ray_trial_id="t2", optuna_number=1, params={"lr": 2e-3}, lora=LORA, seed=0)
        )
        exp = st.experiment("e")
        started = next(t for t in st.trials(exp.id) if t.id == running).started_at
        stopped = started + dt.timedelta(seconds=10)
        assert st.interrupt_running_trials(exp.id, "interrupted by SIGINT", stopped, gpus_per_trial=0.5) == 1
        assert st.interrupt_running_trials(exp.id, "again") == 0  # nothing left running
        trials = st.trials(exp.id)
        reports = st.reports(exp.id)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.INTERRUPTED]
    cut = trials[1]
    assert cut.id == running and cut.error == "interrupted by SIGINT" and cut.finished_at is not None
    # its time until the stop counts: wall seconds × its device share
    assert cut.wall_seconds == pytest.approx(10.0) and cut.device_seconds == pytest.approx(5.0)
    assert [(r.step, r.value) for r in reports] == [(1, 0.51), (2, 0.52), (3, 0.53)]
    assert reports[0].metrics == {"accuracy": 0.5}


def test_retried_writes_are_not_duplicated(db_url: str) -> None:
    """A transaction retried after its first commit landed records the trial once."""
    with Storage.open(db_url, create=True) as st:
        study = _study(st)
        trial_id = _trial(st, study, "t1")
        start = TrialStart(study_id=study, ray_trial_id="t1", optuna_number=0, params={"lr": 1e-3}, lora=LORA, seed=0)
        assert st.start_trial(start) == trial_id
        st.finish_trial(
            trial_id,
            TrialFinish(
                state=TrialState.FAILED,
                final_value=None,
                best_value=None,
                steps=0,
                diverged_step=None,
                error="x",
                device_seconds=0,
                wall_seconds=0,
                examples=0,
                tokens=0,
                reports=(),
            ),
        )
        exp = st.experiment("e")
        assert [t.state for t in st.trials(exp.id)] == [TrialState.COMPLETE]
        assert len(st.reports(exp.id)) == 3


def test_eight_concurrent_writers_complete_without_error(db_url: str) -> None:
    with Storage.open(db_url, create=True) as st:
        study = _study(st)
    errors: list[BaseException] = []
    per_writer = 15

    def writer(i: int) -> None:
        try:
            with Storage.open(db_url) as own:  # one engine per writer, like separate processes
                for j in range(per_writer):
                    _trial(own, study, f"w{i}-{j}", reports=10)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Storage.open(db_url) as st:
        exp = st.experiment("e")
        assert len(st.trials(exp.id)) == 8 * per_writer
        assert len(st.reports(exp.id)) == 8 * per_writer * 10


def test_writes_survive_a_postgresql_restart(pg_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from postgres import fresh_database

    monkeypatch.setenv("PGPASSWORD", pg_server.password)  # type: ignore[attr-defined]
    url = fresh_database(pg_server)  # type: ignore[arg-type]
    with Storage.open(url, create=True) as st:
        study = _study(st)
        _trial(st, study, "before")
        pg_server.restart()  # type: ignore[attr-defined]  # pooled connections are now dead
        _trial(st, study, "after-restart")
        # the server is down while a write starts, and back 2 s later: the write waits it out
        pg_server.stop()  # type: ignore[attr-defined]
        threading.Timer(2.0, pg_server.start).start()  # type: ignore[attr-defined]
        started = time.perf_counter()
        _trial(st, study, "while-down")
        assert time.perf_counter() - started >= 1.0
        names = [t.ray_trial_id for t in st.trials(st.experiment("e").id)]
    assert names == ["before", "after-restart", "while-down"]


def test_password_from_a_secrets_file_and_never_in_what_is_pickled(
    pg_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postgres import fresh_database

    password: str = pg_server.password  # type: ignore[attr-defined]
    monkeypatch.setenv("PGPASSWORD", password)
    url = fresh_database(pg_server)  # type: ignore[arg-type]
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))  # and no ~/.pgpass either
    with pytest.raises(StorageError, match="cannot connect") as info:
        Storage.open(url)
    assert password not in str(info.value)

    secret = tmp_path / "db_password"
    secret.write_text(password + "\n")
    monkeypatch.setenv("LORASWEEP_DB_PASSWORD_FILE", str(secret))
    with Storage.open(url, create=True) as st:
        _study(st)
        assert password not in st.url
        assert password.encode() not in pickle.dumps(st)
        assert password.encode() not in pickle.dumps(optuna_storage(st))

    monkeypatch.delenv("LORASWEEP_DB_PASSWORD_FILE")
    with_password = url.replace("lorasweep@", f"lorasweep:{password}@")
    with Storage.open(with_password) as st:  # a password in the URL is used, then dropped
        assert st.experiment_names() == ["e"]
        assert password not in st.url and password.encode() not in pickle.dumps(st)

    monkeypatch.setenv("LORASWEEP_DB_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(StorageError, match=r"LORASWEEP_DB_PASSWORD_FILE=.*cannot be read"):
        Storage.open(url)


def _first_use(url: str, ready: Any, out: Any) -> None:
    """What every compare job does first on a database: open Optuna's storage, migrate lorasweep's."""
    try:
        with Storage.open(url, create=True) as st:
            ready.wait()
            optuna_storage(st)
            st.upgrade()
        out.put(None)
    except Exception as e:  # reported by the test
        out.put(f"{type(e).__name__}: {e}")


def test_many_jobs_starting_on_a_new_database_create_its_schema_once(db_url: str) -> None:
    """Jobs started together on an empty database all create Optuna's and lorasweep's tables at
    once: the first creates them, the others wait for it or find them, and none fails (without the
    schema lock and the retry, SQLite fails them with "table ... already exists", PostgreSQL with
    "duplicate key value violates unique constraint")."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    n = 6
    ready, out = ctx.Barrier(n), ctx.Queue()
    processes = [ctx.Process(target=_first_use, args=(db_url, ready, out)) for _ in range(n)]
    for p in processes:
        p.start()
    errors = [e for e in (out.get(timeout=300) for _ in processes) if e is not None]
    for p in processes:
        p.join(timeout=60)
    assert errors == []
    with Storage.open(db_url) as st:
        st.check_schema()
        assert st.has_table("studies") and st.experiment_names() == []
