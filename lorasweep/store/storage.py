"""The explicit ``Storage`` object: one engine, short transactions, records out.

Nothing connects at import time. Opening a storage checks that the database answers; the schema
is created or upgraded only when :meth:`Storage.upgrade` is called (commands that write do so),
and read-only commands call :meth:`Storage.check_schema` instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import logging
import math
import operator
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from lorasweep.cost import device_seconds
from lorasweep.errors import StorageError
from lorasweep.metrics import Direction
from lorasweep.store import ownership, schema
from lorasweep.store.records import (
    ExperimentRecord,
    ReportRecord,
    StudyRecord,
    TrialCurve,
    TrialFinish,
    TrialRecord,
    TrialStart,
)
from lorasweep.store.schema import ExperimentStatus, TrialKind, TrialState
from lorasweep.store.secrets import resolve_password, safe_url
from lorasweep.store.sqlite_url import sqlite_target

log = logging.getLogger("lorasweep.store")

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "lorasweep_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Retries of a transaction that lost its connection (e.g. a PostgreSQL restart): waits of
#: 0.25, 0.5, 1, 2, 4, 8, 8, ... seconds, about a minute in all.
RETRY_WAITS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)

T = TypeVar("T")


#: Driver messages of errors that pass: the server is (re)starting or went away, a lock wait ran out.
TRANSIENT_MESSAGES = (
    "connection refused",
    "the connection is closed",
    "connection is lost",
    "connection failed",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed",
    "server closed the connection",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection reset",
    "broken pipe",
    "no connection to the server",
    "consuming input failed",
    "database is locked",
)


def is_transient(error: BaseException) -> bool:
    """A database error worth retrying: the connection was lost or refused (server restarting),
    or SQLite's lock wait ran out. Authentication and SQL errors are not."""
    text = str(getattr(error, "orig", error)).lower()
    if "password" in text or "authentication" in text:
        return False
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PendingRollbackError):  # the connection died inside a transaction (rolled back since)
        return True
    return isinstance(error, OperationalError | InterfaceError) and any(m in text for m in TRANSIENT_MESSAGES)


#: Retries when a command first connects: a wrong host or port should fail in seconds.
CONNECT_WAITS = (0.25, 0.5, 1.0)


def retrying(fn: Callable[[], T], what: str, waits: tuple[float, ...] = RETRY_WAITS, level: int = logging.WARNING) -> T:
    """Run ``fn`` (one transaction); on a transient error wait and run it again (see RETRY_WAITS).
    Each retry is logged at ``level``."""
    for wait in (*waits, None):
        try:
            return fn()
        except Exception as e:
            # Optuna wraps SQLAlchemy's errors (StorageInternalError from the original)
            cause = e if isinstance(e, SQLAlchemyError) else e.__cause__
            if wait is None or not isinstance(cause, SQLAlchemyError) or not is_transient(cause):
                raise
            text = str(getattr(cause, "orig", cause)).strip()
            reason = text.splitlines()[0] if text else type(cause).__name__
            log.log(level, "database unavailable while %s (%s); retrying in %.2g s", what, reason, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _transient_retry(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a Storage method that is one transaction (and safe to run again) with :func:`retrying`."""

    @functools.wraps(method)
    def wrapper(self: Storage, *args: Any, **kwargs: Any) -> T:
        return retrying(lambda: method(self, *args, **kwargs), method.__name__.replace("_", " "))

    return wrapper


#: What a process gets when another one created the same tables at the same moment (many jobs
#: starting on a new database), on PostgreSQL and SQLite.
ALREADY_CREATED = ("already exists", "duplicate key value", "unique constraint failed")
#: PostgreSQL advisory lock held while lorasweep's tables are created or migrated ("lorasweep").
SCHEMA_LOCK_KEY = 0x6C6F72617377


def _lost_creation_race(error: BaseException) -> bool:
    cause = error if isinstance(error, SQLAlchemyError) else error.__cause__
    text_ = str(getattr(cause, "orig", cause)).lower()
    return isinstance(cause, IntegrityError | OperationalError | ProgrammingError) and any(
        m in text_ for m in ALREADY_CREATED
    )


def _created_once(create: Callable[[], T], what: str) -> T:
    """Run ``create``, which creates tables that are missing. Another process may be creating them
    at the same moment (Optuna does not guard against it): the one that loses gets an error once
    the winner's tables are there, and running ``create`` again finds them."""
    for wait in (0.1, 0.3, 1.0, 3.0, None):
        try:
            return create()
        except Exception as e:
            if wait is None or not _lost_creation_race(e):
                raise
            log.debug("another process created the tables while %s; trying again", what)
            time.sleep(wait)
    raise AssertionError("unreachable")


def optuna_storage(storage: Storage) -> Any:
    """Optuna's RDBStorage on the same database (Optuna keeps its own tables there).

    It connects with the storage's password, but keeps none in what it pickles: Ray pickles
    searchers, and Optuna's ``RDBStorage.__getstate__`` keeps ``url`` and ``engine_kwargs``."""
    import optuna

    sqlite = make_url(storage.url).get_backend_name() == "sqlite"
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if sqlite else {}
    kwargs: dict[str, Any] = {} if sqlite else {"pool_pre_ping": True}
    secret = {"password": storage._password} if storage._password is not None else {}
    live = {**kwargs, "connect_args": {**connect_args, **secret}}
    what = "opening the Optuna storage"
    rdb = _created_once(
        lambda: retrying(lambda: optuna.storages.RDBStorage(storage.url, engine_kwargs=live), what), what
    )
    rdb.engine_kwargs = {**kwargs, "connect_args": connect_args}  # the live engine keeps the password
    if sqlite:  # the same connection settings as lorasweep's own engine, from the next connection on
        event.listen(rdb.engine, "connect", _sqlite_busy_timeout if storage.readonly else _sqlite_pragmas)
        rdb.engine.dispose()
    return rdb


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: Any) -> Any:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@functools.cache
def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _record(cls: type, row: Any) -> Any:
    return cls(**{name: _utc(getattr(row, name)) for name in _fields(cls)})


def _columns(cls: type, table: Any) -> list[Any]:
    """``table``'s columns that make a ``cls`` record, in the record's field order: a Core select
    of them gives rows that :func:`_from_row` turns into records, without loading ORM objects
    (reports hold many rows)."""
    return [table.c[name] for name in _fields(cls)]


def _from_row(cls: type, row: Any) -> Any:
    """A record (keyword-only) from a row of :func:`_columns`."""
    return cls(**dict(zip(_fields(cls), map(_utc, row), strict=True)))


class Storage:
    """lorasweep's tables in one database (SQLite file or PostgreSQL), shared with Optuna."""

    def __init__(self, engine: Engine, url: str, password: str | None = None, readonly: bool = False) -> None:
        self.engine = engine
        self.url = url  # never holds a password (see lorasweep.store.secrets)
        self._password = password
        #: opened by a command that only reads: SQLite is opened read-only, its journal mode untouched
        self.readonly = readonly
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickles as its password-free URL; an unpickled copy reconnects with the password from
        ``LORASWEEP_DB_PASSWORD_FILE`` or libpq's PGPASSWORD / .pgpass."""
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = Storage.open(state["url"], create=True)
        self.__dict__.update(other.__dict__)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, create: bool = False, readonly: bool = False) -> Storage:
        """Connect to ``url``; a bad or unreachable URL is a :class:`StorageError` (password hidden).

        A SQLite file that does not exist is created only with ``create`` (commands that write).
        ``readonly`` (commands that only read): a SQLite file is opened read-only, so neither its
        rows nor its journal mode change. A SQLite file must be empty or hold only lorasweep's and
        Optuna's tables (another application's database is refused, untouched), and a command that
        writes needs a writable folder (SQLite keeps its journal next to the file)."""
        shown = safe_url(url)
        try:
            url, password = resolve_password(url)
            parsed = make_url(url)
        except (ArgumentError, ValueError) as e:  # ValueError: e.g. a port that is not a number
            raise StorageError(
                f"--storage '{shown}' is not a database URL; use sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB"
            ) from e
        kwargs: dict[str, Any] = {}
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite:
            # every URL form (file: URIs, mode=ro, relative paths) as one absolute path; in-memory refused
            target = sqlite_target(shown, parsed.database, dict(parsed.query))
            if target.readonly and create:
                raise StorageError(
                    f"--storage {shown} is read-only (mode=ro) and this command writes; drop mode=ro "
                    "(report, recommend, export and dashboard read such a URL)"
                )
            readonly = readonly or target.readonly
            path = target.path  # absolute: Ray's workers unpickle it in other folders
            _check_sqlite_file(shown, path, create=create, readonly=readonly)
            url = parsed.set(database=str(path), query={}).render_as_string(hide_password=False)
            if readonly:
                uri = f"{path.as_uri()}?mode=ro"
                kwargs["creator"] = lambda: sqlite3.connect(
                    uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
                )
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True  # a connection the server dropped is replaced, not used
            if password is not None:
                kwargs["connect_args"] = {"password": password}
        try:
            engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError) as e:
            raise StorageError(f"--storage {shown}: {e}; use sqlite:///FILE.db or postgresql+psycopg://...") from e
        if sqlite:
            event.listen(engine, "connect", _sqlite_busy_timeout if readonly else _sqlite_pragmas)
        storage = cls(engine, url, password, readonly=readonly)
        if not storage.exists():
            return storage  # SQLite creates the file on first write; nothing is written before that
        try:  # a wrong host or port fails in seconds; its retries are not news (the error follows)
            retrying(lambda: engine.connect().close(), "connecting", CONNECT_WAITS, logging.DEBUG)
        except SQLAlchemyError as e:
            engine.dispose()
            reason = str(getattr(e, "orig", e)).strip().splitlines()[0]
            raise StorageError(
                f"cannot connect to --storage {shown} ({reason}); check the URL and that the server runs"
            ) from e
        # SQLite files are checked before connecting (_check_sqlite_file)
        if not sqlite and (foreign := ownership.foreign(engine)):
            engine.dispose()
            raise StorageError(ownership.foreign_message(shown, "the database", foreign))
        if newer := ownership.newer_revision(engine):
            engine.dispose()
            raise StorageError(ownership.newer_message(shown, newer))
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
        """Create lorasweep's tables, or migrate them to this release's schema (or ``revision``).

        Many processes may do so at once (jobs starting on a new database): the first one migrates
        and the others wait for it (:meth:`_lock_schema`), then find nothing left to do."""
        from alembic import command

        cfg = self._alembic_config()
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # see _sqlite_foreign_keys; WAL from lorasweep's first write on (see _sqlite_pragmas)
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                _sqlite_foreign_keys(conn, on=False)
            try:
                with conn.begin():
                    self._lock_schema(conn)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                        raise StorageError(f"the migration left rows without their parent: {broken[:5]}")
            finally:
                if sqlite:
                    _sqlite_foreign_keys(conn, on=True)

    @staticmethod
    def _lock_schema(conn: Connection) -> None:
        """Hold the schema for the rest of ``conn``'s transaction, before it reads the schema's
        revision: on PostgreSQL an advisory lock (its DDL is transactional); on SQLite the
        database's write lock (``BEGIN IMMEDIATE``: the migration then runs in that transaction,
        where the driver would otherwise run each DDL statement on its own)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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

    @_transient_retry
    def reopen_experiment(self, experiment_id: int) -> None:
        """Mark an experiment running again (``compare --resume``)."""
        with self._session() as s:
            row = s.get_one(schema.Experiment, experiment_id)
            row.status, row.finished_at = ExperimentStatus.RUNNING, None

    @_transient_retry
    def finish_experiment(self, experiment_id: int, status: ExperimentStatus) -> None:
        with self._session() as s:
            row = s.get_one(schema.Experiment, experiment_id)
            row.status, row.finished_at = status, _now()

    @_transient_retry
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

    @_transient_retry
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
            existing = s.scalars(  # a retried transaction may have committed the first time
                select(schema.Study).where(
                    schema.Study.experiment_id == experiment_id, schema.Study.optuna_study_name == optuna_study_name
                )
            ).one_or_none()
            if existing is not None:
                return _record(StudyRecord, existing)
            s.add(row)
        return _record(StudyRecord, row)

    @_transient_retry
    def finish_study(self, study_id: int) -> None:
        with self._session() as s:
            s.get_one(schema.Study, study_id).finished_at = _now()

    @_transient_retry
    def studies(self, experiment_id: int) -> list[StudyRecord]:
        with self._session() as s:
            rows = s.scalars(
                select(schema.Study).where(schema.Study.experiment_id == experiment_id).order_by(schema.Study.id)
            )
            return [_record(StudyRecord, r) for r in rows]

    # -- trials ---------------------------------------------------------------------------------

    @_transient_retry
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
            existing = s.scalars(  # a retried transaction may have committed the first time
                select(schema.Trial.id).where(
                    schema.Trial.study_id == start.study_id, schema.Trial.ray_trial_id == start.ray_trial_id
                )
            ).first()
            if existing is not None:
                return existing
            s.add(row)
        return row.id

    @_transient_retry
    def finish_trial(self, trial_id: int, finish: TrialFinish) -> None:
        """Record a trial's end and all its reports in one transaction."""
        with self._session() as s:
            row = s.get_one(schema.Trial, trial_id)
            if row.finished_at is not None:  # recorded already (a retry whose first commit landed)
                return
            for f in dataclasses.fields(TrialFinish):
                if f.name != "reports":
                    setattr(row, f.name, getattr(finish, f.name))
            row.finished_at = _now()
            s.add_all(
                schema.Report(trial_id=trial_id, **{k: v for k, v in dataclasses.asdict(r).items() if k != "trial_id"})
                for r in finish.reports
            )

    @_transient_retry
    def interrupt_running_trials(
        self, experiment_id: int, error: str, ended_at: dt.datetime | None = None, gpus_per_trial: float = 0.0
    ) -> int:
        """Mark the experiment's trials that are still RUNNING as INTERRUPTED with ``error``; return
        how many. ``ended_at``: when the search was stopped; each trial's wall time since its start
        and its device time (:func:`lorasweep.cost.device_seconds`) are recorded, so that the cost
        of the search includes them. Without it (a crash found by ``compare --resume``: the end is
        not known) they stay 0."""
        with self._session() as s:
            rows = s.scalars(
                select(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id, schema.Trial.state == TrialState.RUNNING)
            ).all()
            for row in rows:
                row.state, row.error, row.finished_at = TrialState.INTERRUPTED, error, _now()
                if ended_at is not None:
                    wall = max(0.0, (ended_at - _utc(row.started_at)).total_seconds())
                    row.wall_seconds, row.device_seconds = wall, device_seconds(wall, gpus_per_trial)
            return len(rows)

    @_transient_retry
    def trials(self, experiment_id: int) -> list[TrialRecord]:
        """All trials of an experiment, in the order they finished (running ones last)."""
        with self._session() as s:
            rows = s.connection().execute(  # Core rows, no ORM loading
                select(*_columns(TrialRecord, schema.Trial.__table__))
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Trial.finished_at.is_(None), schema.Trial.finished_at, schema.Trial.id)
            )
            return [_from_row(TrialRecord, row) for row in rows.all()]

    @_transient_retry
    def reports(self, experiment_id: int) -> list[ReportRecord]:
        """Every report of an experiment's trials, metrics included, by trial and step.

        Reports that only draw curves should read :meth:`curves`: it skips the metrics (JSON)
        and builds one record per trial, not one per report."""
        with self._session() as s:
            rows = s.connection().execute(  # Core rows, no ORM loading
                select(*_columns(ReportRecord, schema.Report.__table__))
                .join(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Report.trial_id, schema.Report.step)
            )
            return [_from_row(ReportRecord, row) for row in rows.all()]

    @_transient_retry
    def curves(self, experiment_id: int, trial_ids: Collection[int] | None = None) -> dict[int, TrialCurve]:
        """Per trial of the experiment that reported (or of ``trial_ids`` only): its steps, target
        values and drift ratios. Four columns, no metrics, one record per trial."""
        report = schema.Report
        if trial_ids is None:  # IN, not a join: the (trial_id, step) index gives the order, no sort
            chunks: list[Any] = [
                select(schema.Trial.id).join(schema.Study).where(schema.Study.experiment_id == experiment_id)
            ]
        else:
            ids = sorted(set(trial_ids))
            chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
        out: dict[int, TrialCurve] = {}
        with self._session() as s:
            for chunk in chunks:
                result = s.connection().execute(  # Core rows, no ORM loading
                    select(report.trial_id, report.step, report.value, report.drift_ratio)
                    .where(report.trial_id.in_(chunk))
                    .order_by(report.trial_id, report.step)
                )
                rows = itertools.chain.from_iterable(result.partitions(10_000))  # fetchmany, not row by row
                for trial_id, group in itertools.groupby(rows, key=operator.itemgetter(0)):
                    _, steps, values, ratios = zip(*group, strict=True)
                    out[trial_id] = TrialCurve(trial_id=trial_id, steps=steps, values=values, drift_ratios=ratios)
        return out

    @_transient_retry
    def drift_totals(self, experiment_id: int, kind: TrialKind = TrialKind.SEARCH) -> list[tuple[int, int, float, int]]:
        """``(study id, step, sum, count)`` of the finite drift ratios that the experiment's
        trials of ``kind`` reported at each step: per-step means without reading every report
        into Python (the database adds up the 1M rows of 10,000 trials × 100 evaluations)."""
        report, trial = schema.Report, schema.Trial
        finite = (report.drift_ratio > -math.inf) & (report.drift_ratio < math.inf)  # NULL and NaN fail too
        query = (
            select(trial.study_id, report.step, func.sum(report.drift_ratio), func.count(report.drift_ratio))
            .join(trial, report.trial_id == trial.id)
            .join(schema.Study)
            .where(schema.Study.experiment_id == experiment_id, trial.kind == kind, finite)
            .group_by(trial.study_id, report.step)
        )
        with self._session() as s:
            return [(int(a), int(b), float(c), int(d)) for a, b, c, d in s.connection().execute(query).all()]


def _foreign_tables(path: Path) -> list[str]:
    """The tables of a SQLite file that neither lorasweep nor Optuna made, by name and shape
    (through a read-only connection: changes nothing, journal mode included)."""
    uri = f"{path.as_uri()}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        return ownership.foreign(engine)
    finally:
        engine.dispose()


def _check_sqlite_file(shown: str, path: Path, *, create: bool, readonly: bool) -> None:
    """Refuse, before anything connects, a SQLite path that cannot work: a missing or read-only
    folder (for a command that writes), a file that is not SQLite, another application's database."""
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise StorageError(f"--storage {shown}: folder {folder} {what}; create it first or pick another path")
    if not path.exists():
        if not create:
            raise StorageError(f"--storage {shown}: no such database file; run lorasweep compare first")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StorageError(
                f"--storage {shown}: folder {folder} is not writable; pick a writable folder or fix its permissions"
            )
        return
    if path.is_dir():
        raise StorageError(f"--storage {shown}: {path} is a folder; give the path of a database file")
    if not readonly and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK)):
        where = path if not os.access(path, os.W_OK) else f"folder {folder} (SQLite writes its journal there)"
        raise StorageError(f"--storage {shown}: {where} is not writable; fix its permissions or copy the database")
    if path.stat().st_size == 0:
        return  # an empty file is a new database
    try:
        foreign = _foreign_tables(path)
    except (sqlite3.DatabaseError, DBAPIError) as e:
        why = getattr(e, "orig", e)
        raise StorageError(
            f"--storage {shown}: {path} is not a SQLite database ({why}); point --storage at a lorasweep database "
            "or a new file"
        ) from e
    if foreign:
        raise StorageError(ownership.foreign_message(shown, str(path), foreign))


def _sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    """Foreign keys on or off for ``conn`` (outside a transaction, where SQLite ignores the pragma).
    Migrations run with them off: SQLite's batch migrations recreate a table (copy, drop, rename),
    and dropping a table that others reference deletes their rows too (ON DELETE CASCADE) while
    foreign keys are on. The migration then checks that every row still has its parent."""
    conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    conn.commit()


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    """A read-only connection waits for writers like the others, and changes nothing else."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the dashboard, a report) work while a search writes; the busy timeout
    makes concurrent writers wait instead of failing with "database is locked"; with WAL,
    synchronous=NORMAL syncs at checkpoints instead of at every commit (a crash of the process
    loses nothing; a power cut may lose the last commits, never the database)."""
    cursor = dbapi_connection.cursor()
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":  # set by upgrade(), the first write
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
