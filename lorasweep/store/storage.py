"""The explicit ``Storage`` object: one engine, short transactions, records out.

Nothing connects at import time. Opening a storage checks that the database answers; the schema
is created or upgraded only when :meth:`Storage.upgrade` is called (commands that write do so),
and read-only commands call :meth:`Storage.check_schema` instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lorasweep.config import Direction
from lorasweep.errors import StorageError
from lorasweep.store import schema
from lorasweep.store.records import (
    ExperimentRecord,
    ReportRecord,
    StudyRecord,
    TrialFinish,
    TrialRecord,
    TrialStart,
)
from lorasweep.store.schema import ExperimentStatus, TrialState

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "lorasweep_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def safe_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def optuna_storage(url: str) -> Any:
    """Optuna's RDBStorage on the same database (Optuna keeps its own tables there)."""
    import optuna

    sqlite = make_url(url).get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}} if sqlite else {}
    storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    if sqlite:  # the same connection settings as lorasweep's own engine, from the next connection on
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()
    return storage


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: Any) -> Any:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _record(cls: type, row: Any) -> Any:
    return cls(**{f.name: _utc(getattr(row, f.name)) for f in dataclasses.fields(cls)})


class Storage:
    """lorasweep's tables in one database (SQLite file or PostgreSQL), shared with Optuna."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, create: bool = False) -> Storage:
        """Connect to ``url``; a bad or unreachable URL is a :class:`StorageError` (password hidden).

        A SQLite file that does not exist is created only with ``create`` (commands that write)."""
        shown = safe_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise StorageError(
                f"--storage '{url}' is not a database URL; use sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB"
            ) from e
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                path = Path(database)
                if not path.parent.exists():
                    raise StorageError(f"--storage {shown}: folder {path.parent} does not exist; create it first")
                if not create and not path.exists():
                    raise StorageError(f"--storage {shown}: no such database file; run lorasweep compare first")
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError) as e:
            raise StorageError(f"--storage {shown}: {e}; use sqlite:///FILE.db or postgresql+psycopg://...") from e
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        storage = cls(engine, url)
        if not storage.exists():
            return storage  # SQLite creates the file on first write; nothing is written before that
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as e:
            engine.dispose()
            reason = str(getattr(e, "orig", e)).strip().splitlines()[0]
            raise StorageError(
                f"cannot connect to --storage {shown} ({reason}); check the URL and that the server runs"
            ) from e
        return storage

    def exists(self) -> bool:
        """False for a SQLite file that has not been created yet (nothing to read there)."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return True
        return Path(parsed.database).exists()

    def has_table(self, name: str) -> bool:
        from sqlalchemy import inspect

        return inspect(self.engine).has_table(name)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("version_table", VERSION_TABLE)
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Create lorasweep's tables, or migrate them to this release's schema (or ``revision``)."""
        from alembic import command

        cfg = self._alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return ctx.get_current_revision()

    def check_schema(self) -> None:
        """Raise unless the database holds lorasweep's tables at this release's revision."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        current = self.schema_revision()
        if current is None:
            raise StorageError(
                f"--storage {safe_url(self.url)} holds no lorasweep experiments; run lorasweep compare first"
            )
        if current != head:
            raise StorageError(
                f"--storage {safe_url(self.url)} has schema {current}, this lorasweep needs {head}; "
                "run lorasweep db upgrade"
            )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # -- experiments ----------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str, config: dict[str, Any]) -> ExperimentRecord:
        row = schema.Experiment(
            name=name, description=description, config=config, status=ExperimentStatus.RUNNING, created_at=_now()
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError as e:
            raise StorageError(
                f"experiment '{name}' already exists in {safe_url(self.url)}; choose another --name"
            ) from e
        return _record(ExperimentRecord, row)

    def finish_experiment(self, experiment_id: int, status: ExperimentStatus) -> None:
        with self._session() as s:
            row = s.get_one(schema.Experiment, experiment_id)
            row.status, row.finished_at = status, _now()

    def experiment_names(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(schema.Experiment.name).order_by(schema.Experiment.id)))

    def experiment(self, name: str | None) -> ExperimentRecord:
        """The experiment called ``name``; with ``None``, the only one (else an error listing names)."""
        names = self.experiment_names()
        if name is None:
            if len(names) == 1:
                name = names[0]
            elif not names:
                raise StorageError(f"{safe_url(self.url)} holds no experiments; run lorasweep compare first")
            else:
                listed = ", ".join(names)
                raise StorageError(
                    f"{safe_url(self.url)} holds {len(names)} experiments; pick one with --experiment: {listed}"
                )
        with self._session() as s:
            row = s.scalars(select(schema.Experiment).where(schema.Experiment.name == name)).one_or_none()
            if row is None:
                raise StorageError(
                    f"no experiment '{name}' in {safe_url(self.url)}; known: {', '.join(names) or '(none)'}"
                )
            return _record(ExperimentRecord, row)

    # -- studies --------------------------------------------------------------------------------

    def add_study(
        self,
        experiment_id: int,
        space: str,
        rank: int,
        optuna_study_name: str,
        metric: str,
        direction: Direction,
        space_config: dict[str, Any],
    ) -> StudyRecord:
        row = schema.Study(
            experiment_id=experiment_id,
            space=space,
            rank=rank,
            optuna_study_name=optuna_study_name,
            metric=metric,
            direction=direction,
            space_config=space_config,
            started_at=_now(),
        )
        with self._session() as s:
            s.add(row)
        return _record(StudyRecord, row)

    def finish_study(self, study_id: int) -> None:
        with self._session() as s:
            s.get_one(schema.Study, study_id).finished_at = _now()

    def studies(self, experiment_id: int) -> list[StudyRecord]:
        with self._session() as s:
            rows = s.scalars(
                select(schema.Study).where(schema.Study.experiment_id == experiment_id).order_by(schema.Study.id)
            )
            return [_record(StudyRecord, r) for r in rows]

    # -- trials ---------------------------------------------------------------------------------

    def start_trial(self, start: TrialStart) -> int:
        lora = start.lora
        row = schema.Trial(
            study_id=start.study_id,
            ray_trial_id=start.ray_trial_id,
            optuna_number=start.optuna_number,
            state=TrialState.RUNNING,
            kind=start.kind,
            params=start.params,
            seed=start.seed,
            r=lora["r"],
            alpha=lora["alpha"],
            c=lora["c"],
            lr=lora["lr"],
            scaling=lora["scaling"],
            effective_step=lora["effective_step"],
            use_rslora=lora["use_rslora"],
            started_at=_now(),
        )
        with self._session() as s:
            s.add(row)
        return row.id

    def finish_trial(self, trial_id: int, finish: TrialFinish) -> None:
        """Record a trial's end and all its reports in one transaction."""
        with self._session() as s:
            row = s.get_one(schema.Trial, trial_id)
            for f in dataclasses.fields(TrialFinish):
                if f.name != "reports":
                    setattr(row, f.name, getattr(finish, f.name))
            row.finished_at = _now()
            s.add_all(
                schema.Report(trial_id=trial_id, **{k: v for k, v in dataclasses.asdict(r).items() if k != "trial_id"})
                for r in finish.reports
            )

    def fail_running_trials(self, experiment_id: int, error: str) -> int:
        """Mark the experiment's trials that are still RUNNING as FAILED with ``error``."""
        with self._session() as s:
            rows = s.scalars(
                select(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id, schema.Trial.state == TrialState.RUNNING)
            ).all()
            for row in rows:
                row.state, row.error, row.finished_at = TrialState.FAILED, error, _now()
            return len(rows)

    def trials(self, experiment_id: int) -> list[TrialRecord]:
        """All trials of an experiment, in the order they finished (running ones last)."""
        with self._session() as s:
            rows = s.scalars(
                select(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Trial.finished_at.is_(None), schema.Trial.finished_at, schema.Trial.id)
            )
            return [_record(TrialRecord, r) for r in rows]

    def reports(self, experiment_id: int) -> list[ReportRecord]:
        with self._session() as s:
            rows = s.scalars(
                select(schema.Report)
                .join(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Report.trial_id, schema.Report.step)
            )
            return [_record(ReportRecord, r) for r in rows]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the dashboard, a report) work while a search writes; the busy timeout
    makes concurrent writers wait instead of failing with "database is locked"; with WAL,
    synchronous=NORMAL syncs at checkpoints instead of at every commit (a crash of the process
    loses nothing; a power cut may lose the last commits, never the database)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
