"""The database engine and its retries: opening an engine for a URL (password handed to the
driver, never kept in the URL), SQLite's connection settings, and running a transaction again
when the connection was lost (a PostgreSQL restart) or tables were created by another process."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
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

from lorasweep.errors import StorageError
from lorasweep.store.secrets import resolve_password, safe_url
from lorasweep.store.sqlite_files import check_sqlite_file
from lorasweep.store.sqlite_url import sqlite_target

log = logging.getLogger("lorasweep.store")

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Retries of a transaction that lost its connection (e.g. a PostgreSQL restart): waits of
#: 0.25, 0.5, 1, 2, 4, 8, 8, ... seconds, about a minute in all.
RETRY_WAITS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)
#: Retries when a command first connects: a wrong host or port should fail in seconds.
CONNECT_WAITS = (0.25, 0.5, 1.0)

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


def transient_retry(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a method that is one transaction (and safe to run again) with :func:`retrying`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        return retrying(lambda: method(self, *args, **kwargs), method.__name__.replace("_", " "))

    return wrapper


#: What a process gets when another one created the same tables at the same moment (many jobs
#: starting on a new database), on PostgreSQL and SQLite.
ALREADY_CREATED = ("already exists", "duplicate key value", "unique constraint failed")


def _lost_creation_race(error: BaseException) -> bool:
    cause = error if isinstance(error, SQLAlchemyError) else error.__cause__
    text_ = str(getattr(cause, "orig", cause)).lower()
    return isinstance(cause, IntegrityError | OperationalError | ProgrammingError) and any(
        m in text_ for m in ALREADY_CREATED
    )


def created_once(create: Callable[[], T], what: str) -> T:
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


def open_engine(url: str, *, create: bool, readonly: bool) -> tuple[Engine, str, bool]:
    """An engine for ``url``, the URL to keep (absolute SQLite path, no password) and whether the
    engine only reads (``readonly``, or a SQLite URL with ``mode=ro``); a bad URL or an unusable
    SQLite file is a :class:`StorageError` (password hidden). Nothing connects yet.

    The password (from the URL, ``LORASWEEP_DB_PASSWORD_FILE`` or libpq's) is part of the
    engine's own URL object (``engine.url.password``, masked whenever SQLAlchemy prints it),
    never of the URL string lorasweep keeps, prints or pickles."""
    shown = safe_url(url)
    try:
        url, password = resolve_password(url)
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:  # ValueError: e.g. a port that is not a number
        raise StorageError(
            f"--storage '{shown}' is not a database URL; use sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB"
        ) from e
    kwargs: dict[str, Any] = {}
    target: Any = url
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        # every URL form (file: URIs, mode=ro, relative paths) as one absolute path; in-memory refused
        file = sqlite_target(shown, parsed.database, dict(parsed.query))
        if file.readonly and create:
            raise StorageError(
                f"--storage {shown} is read-only (mode=ro) and this command writes; drop mode=ro "
                "(report, recommend, export and dashboard read such a URL)"
            )
        readonly = readonly or file.readonly
        path = file.path  # absolute: Ray's workers unpickle it in other folders
        check_sqlite_file(shown, path, create=create, readonly=readonly)
        url = target = parsed.set(database=str(path), query={}).render_as_string(hide_password=False)
        if readonly:
            kwargs["creator"] = sqlite_read_only_creator(path)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True  # a connection the server dropped is replaced, not used
        if readonly:
            kwargs["connect_args"] = postgres_read_only(dict(parsed.query))
        if password is not None:
            target = parsed.set(password=password)
    try:
        engine = create_engine(target, **kwargs)
    except (ArgumentError, ImportError) as e:
        raise StorageError(f"--storage {shown}: {e}; use sqlite:///FILE.db or postgresql+psycopg://...") from e
    if sqlite:
        event.listen(engine, "connect", sqlite_busy_timeout if readonly else sqlite_pragmas)
    return engine, url, readonly


#: PostgreSQL's session setting that makes every transaction read-only (a write is refused by the server).
READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def postgres_read_only(query: dict[str, Any]) -> dict[str, str]:
    """libpq connection arguments for a PostgreSQL session that cannot write: the URL's own
    ``options`` (if any) with ``default_transaction_read_only`` added."""
    given = query.get("options")
    given = given[-1] if isinstance(given, tuple) else given
    return {"options": f"{given} {READ_ONLY_OPTION}" if given else READ_ONLY_OPTION}


def sqlite_read_only_creator(path: Path) -> Callable[[], sqlite3.Connection]:
    """New connections to the SQLite file at ``path`` opened read-only (``mode=ro``): neither its
    rows nor its journal mode can change through them."""
    uri = f"{path.as_uri()}?mode=ro"
    return lambda: sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)


def sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    """Foreign keys on or off for ``conn`` (outside a transaction, where SQLite ignores the pragma).
    Migrations run with them off: SQLite's batch migrations recreate a table (copy, drop, rename),
    and dropping a table that others reference deletes their rows too (ON DELETE CASCADE) while
    foreign keys are on. The migration then checks that every row still has its parent."""
    conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    conn.commit()


def sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    """A read-only connection waits for writers like the others, and changes nothing else."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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
