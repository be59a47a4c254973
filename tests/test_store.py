"""The store: schema versioning, records, and what it hides."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lorasweep.errors import StorageError
from lorasweep.store import Storage, safe_url
from lorasweep.store.migrate import VERSION_TABLE, alembic_config
from lorasweep.store.schema import Base

from conftest import run_cli
from factories import lora_params


def test_migrations_create_exactly_the_models(db_url: str) -> None:
    with Storage.open(db_url, create=True) as st:
        st.upgrade()
        with st.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "version_table": VERSION_TABLE,
                    "include_name": lambda name, type_, _: type_ != "table" or name.startswith("lorasweep_"),
                },
            )
            assert compare_metadata(ctx, Base.metadata) == []


def test_db_upgrade_command_then_check_schema(db_url: str) -> None:
    url = db_url
    code, out, err = run_cli("db", "upgrade", "--storage", url)
    assert code == 0, err
    assert "schema at 0011" in out
    with Storage.open(url) as st:
        st.check_schema()
        assert st.experiment_names() == []


def test_a_database_without_lorasweep_tables_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    path.touch()
    with Storage.open(f"sqlite:///{path}") as st, pytest.raises(StorageError, match="holds no lorasweep experiments"):
        st.check_schema()


def test_records_are_frozen_with_utc_times(db_url: str) -> None:
    with Storage.open(db_url, create=True) as st:
        st.upgrade()
        created = st.create_experiment("e1", "", {"k": 1})
        read = st.experiment("e1")
        assert read.created_at.tzinfo is not None and created.created_at.tzinfo is not None
        assert abs(read.created_at - created.created_at) < dt.timedelta(seconds=1)
        with pytest.raises(AttributeError):
            read.name = "other"  # type: ignore[misc]
        with pytest.raises(StorageError, match="experiment 'e1' already exists"):
            st.create_experiment("e1", "", {})


def test_passwords_never_show_in_urls_we_print() -> None:
    assert safe_url("postgresql+psycopg://bob:s3cret@db.example:5432/runs") == (
        "postgresql+psycopg://bob:***@db.example:5432/runs"
    )
    with pytest.raises(StorageError) as info:
        Storage.open("postgresql+psycopg://bob:s3cret@127.0.0.1:1/runs")
    assert "s3cret" not in str(info.value) and "bob:***@" in str(info.value)


def test_opening_a_new_sqlite_path_writes_nothing_until_asked(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Storage.open(f"sqlite:///{path}", create=True) as st:
        assert not st.exists()
    assert not path.exists()


def test_upgrading_an_older_database_keeps_its_rows(db_url: str) -> None:
    """A database made by the first release (schema 0001) is migrated in place."""
    url = db_url
    with Storage.open(url, create=True) as st:
        st.upgrade("0001")
        assert st.schema_revision() == "0001"
        st.create_experiment("kept", "from 0001", {"k": 1})
        with pytest.raises(StorageError, match="run lorasweep db upgrade"):
            st.check_schema()
    code, out, _ = run_cli("db", "upgrade", "--storage", url)
    assert code == 0 and "schema at 0011" in out
    with Storage.open(url) as st:
        st.check_schema()
        assert st.experiment("kept").description == "from 0001"
        assert {"signal", "drift", "drift_ratio"} <= {c["name"] for c in _columns(st, "lorasweep_reports")}


def _columns(st: Storage, table: str) -> list[dict]:
    from sqlalchemy import inspect

    return inspect(st.engine).get_columns(table)


def _old_study(st: Storage, experiment_id: int) -> int:
    """A study row written by a release before 0008 (no repeat column)."""
    from sqlalchemy import MetaData, insert

    meta = MetaData()
    meta.reflect(st.engine, only=["lorasweep_studies"])
    row = {
        "experiment_id": experiment_id, "space": "lr_only", "rank": 4, "optuna_study_name": "e/lr_only/r4",
        "metric": "accuracy", "direction": "maximize", "space_config": {},
        "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }  # fmt: skip
    with st.engine.begin() as conn:
        return int(conn.execute(insert(meta.tables["lorasweep_studies"]).values(row)).inserted_primary_key[0])


def _old_trial(st: Storage, study_id: int, **values: object) -> int:
    """A finished trial row written by a release at schema 0006 (before 0009's device column)."""
    from sqlalchemy import MetaData, insert

    meta = MetaData()
    meta.reflect(st.engine, only=["lorasweep_trials"])
    row = {
        "study_id": study_id, "ray_trial_id": "old", "optuna_number": 0, "kind": "search", "params": {"lr": 1e-3},
        "seed": 0, "r": 4, "alpha": 8.0, "c": 4.0, "lr": 1e-3, "scaling": 2.0, "effective_step": 2e-3,
        "use_rslora": False, "steps": 0, "device_seconds": 0.0, "wall_seconds": 0.0, "examples": 0, "tokens": 0,
        "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "finished_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        **values,
    }  # fmt: skip
    table = meta.tables["lorasweep_trials"]
    with st.engine.begin() as conn:
        return int(
            conn.execute(insert(table).values({k: v for k, v in row.items() if k in table.c})).inserted_primary_key[0]
        )


def _raw_trials(st: Storage) -> dict[int, tuple[str, str | None]]:
    """Every trial's (state, error), read from the table as it is (any schema)."""
    from sqlalchemy import MetaData, select

    meta = MetaData()
    meta.reflect(st.engine, only=["lorasweep_trials"])
    t = meta.tables["lorasweep_trials"]
    with st.engine.connect() as conn:
        return {row.id: (row.state, row.error) for row in conn.execute(select(t.c.id, t.c.state, t.c.error))}


def test_the_interrupted_state_migrates_both_ways(db_url: str) -> None:
    """0007 adds INTERRUPTED. Rows of 0006 keep their state (FAILED, "interrupted: ..."), which
    still reads as interrupted; a downgrade turns INTERRUPTED rows back into that."""
    from alembic import command

    from lorasweep.search.runner import finished
    from lorasweep.store import TrialStart, TrialState

    lora = lora_params()
    with Storage.open(db_url, create=True) as st:
        st.upgrade("0006")
        exp = st.create_experiment("e", "", {})
        study = _old_study(st, exp.id)  # the ORM's study has 0008's repeat column
        died = "interrupted: the search process died"
        old = _old_trial(st, study, state=TrialState.FAILED.value, error=died)  # and its trial 0009's device
        st.upgrade()
        new = st.start_trial(
            TrialStart(study_id=study, ray_trial_id="new", optuna_number=1, params={"lr": 1e-3}, lora=lora, seed=0)
        )
        assert st.interrupt_running_trials(exp.id, "interrupted by SIGTERM") == 1
        states = {t.id: t for t in st.trials(exp.id)}
        assert states[old].state == TrialState.FAILED and not finished(states[old])
        assert states[new].state == TrialState.INTERRUPTED and not finished(states[new])

        cfg = alembic_config()
        with st.engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # as Storage.upgrade: recreating a table must not cascade
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
        after = _raw_trials(st)  # schema 0006: read without the ORM (it has the columns of later ones)
    assert after[new] == (TrialState.FAILED.value, "interrupted by SIGTERM")
    assert after[old] == (TrialState.FAILED.value, died)


def test_upgrading_keeps_every_trial_and_report(db_url: str) -> None:
    """Migrations that recreate the trials table (SQLite's batch mode: copy, drop, rename) keep
    the reports that reference it: dropping a referenced table with foreign keys on would delete
    them (ON DELETE CASCADE), so migrations run with them off and check the rows after."""
    from sqlalchemy import MetaData, insert

    from lorasweep.store import TrialState

    row = {
        "id": 1, "name": "old", "description": "", "config": {}, "status": "complete",
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "experiment_id": 1, "space": "lr_only", "rank": 4, "optuna_study_name": "old/lr_only/r4", "metric": "accuracy",
        "direction": "maximize", "space_config": {}, "study_id": 1, "ray_trial_id": "a", "state": "complete",
        "kind": "search", "params": {"lr": 1e-3}, "seed": 0, "r": 4, "alpha": 8.0, "c": 4.0, "lr": 1e-3,
        "scaling": 2.0, "effective_step": 2e-3, "use_rslora": False, "final_value": 0.6, "steps": 20,
        "device_seconds": 1.0, "wall_seconds": 1.0, "examples": 32, "tokens": 900, "trial_id": 1, "metrics": {},
    }  # fmt: skip
    with Storage.open(db_url, create=True) as st:
        st.upgrade("0003")  # before the migrations that recreate lorasweep_trials on SQLite (0004, 0007)
        meta = MetaData()
        meta.reflect(st.engine)
        with st.engine.begin() as conn:
            for name in ("lorasweep_experiments", "lorasweep_studies", "lorasweep_trials"):
                table = meta.tables[name]
                conn.execute(insert(table).values({k: v for k, v in row.items() if k in table.c}))
            reports = meta.tables["lorasweep_reports"]
            for step in (10, 20):
                values = {**row, "id": step, "step": step, "value": 0.5 + step / 100}
                conn.execute(insert(reports).values({k: v for k, v in values.items() if k in reports.c}))
        st.upgrade()
        exp = st.experiment("old")
        (trial,) = st.trials(exp.id)
        assert trial.state == TrialState.COMPLETE and trial.final_value == 0.6
        assert [(r.step, r.value) for r in st.reports(exp.id)] == [(10, 0.6), (20, 0.7)]
