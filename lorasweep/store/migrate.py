"""lorasweep's schema: creating or migrating its tables with Alembic (one process at a time),
reading the revision, and checking it before a command reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from lorasweep.errors import StorageError
from lorasweep.store.engine import sqlite_foreign_keys
from lorasweep.store.secrets import safe_url

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "lorasweep_alembic_version"
#: PostgreSQL advisory lock held while lorasweep's tables are created or migrated ("lorasweep").
SCHEMA_LOCK_KEY = 0x6C6F72617377


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_table", VERSION_TABLE)
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create lorasweep's tables, or migrate them to this release's schema (or ``revision``).

    Many processes may do so at once (jobs starting on a new database): the first one migrates
    and the others wait for it (:func:`lock_schema`), then find nothing left to do."""
    from alembic import command

    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # see sqlite_foreign_keys; WAL from lorasweep's first write on (see sqlite_pragmas)
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            sqlite_foreign_keys(conn, on=False)
        try:
            with conn.begin():
                lock_schema(conn)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                    raise StorageError(f"the migration left rows without their parent: {broken[:5]}")
        finally:
            if sqlite:
                sqlite_foreign_keys(conn, on=True)


def lock_schema(conn: Connection) -> None:
    """Hold the schema for the rest of ``conn``'s transaction, before it reads the schema's
    revision: on PostgreSQL an advisory lock (its DDL is transactional); on SQLite the
    database's write lock (``BEGIN IMMEDIATE``: the migration then runs in that transaction,
    where the driver would otherwise run each DDL statement on its own)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def schema_revision(engine: Engine) -> str | None:
    """The revision of lorasweep's tables (None: there are none)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def check_schema(engine: Engine, url: str) -> None:
    """Raise unless the database holds lorasweep's tables at this release's revision."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    current = schema_revision(engine)
    if current is None:
        raise StorageError(f"--storage {safe_url(url)} holds no lorasweep experiments; run lorasweep compare first")
    if current != head:
        raise StorageError(
            f"--storage {safe_url(url)} has schema {current}, this lorasweep needs {head}; run lorasweep db upgrade"
        )
