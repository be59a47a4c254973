"""Whose database is it? lorasweep writes only to a database that is new and empty, or whose tables
are exactly lorasweep's and Optuna's: known by name *and* shape (the table's columns are among the
ones lorasweep or Optuna define for it, and its primary key is theirs). Anything else is another
application's database and is refused, on every backend, before anything is created in it.

Two version tables tell the rest: ``lorasweep_alembic_version`` must hold a revision this release
knows (a newer lorasweep's database is refused by every command: this release cannot read what it
does not know, nor migrate it back), and ``alembic_version``, when present, must hold one of
Optuna's revisions (another Alembic-managed application's is not Optuna's).

Everything here only reads: :func:`problems` takes an engine the caller opened without side
effects (for SQLite: a read-only connection, before any pragma could switch the journal mode).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

#: lorasweep's Alembic version table (Optuna's is ``alembic_version``).
VERSION_TABLE = "lorasweep_alembic_version"
OPTUNA_VERSION_TABLE = "alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True, kw_only=True)
class Shape:
    columns: frozenset[str]
    primary_key: frozenset[str]


def _shapes(metadata: Any) -> dict[str, Shape]:
    return {
        name: Shape(
            columns=frozenset(c.name for c in table.columns),
            primary_key=frozenset(c.name for c in table.primary_key.columns),
        )
        for name, table in metadata.tables.items()
    }


@functools.cache
def _optuna() -> tuple[dict[str, Shape], frozenset[str]]:
    """The tables Optuna's RDBStorage creates (its version table included), with their shapes, and
    every schema revision Optuna knows: read through public APIs only, from an RDBStorage on an
    in-memory SQLite database inspected by SQLAlchemy."""
    import optuna

    rdb = optuna.storages.RDBStorage("sqlite:///:memory:")
    try:
        insp = inspect(rdb.engine)
        shapes = {
            name: Shape(
                columns=frozenset(c["name"] for c in insp.get_columns(name)),
                primary_key=frozenset(insp.get_pk_constraint(name).get("constrained_columns") or []),
            )
            for name in insp.get_table_names()
        }
        return shapes, frozenset(rdb.get_all_versions())
    finally:
        rdb.engine.dispose()


@functools.cache
def known() -> dict[str, Shape]:
    """Every table lorasweep or Optuna creates, with its shape."""
    from lorasweep.store.schema import Base

    version = Shape(columns=frozenset({"version_num"}), primary_key=frozenset({"version_num"}))
    return {**_optuna()[0], OPTUNA_VERSION_TABLE: version, **_shapes(Base.metadata), VERSION_TABLE: version}


@functools.cache
def lorasweep_revisions() -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions())


def optuna_revisions() -> frozenset[str]:
    return _optuna()[1]


def foreign(engine: Any) -> list[str]:
    """The tables of the database that neither lorasweep nor Optuna made, each with why (empty:
    the database is new, or lorasweep's and Optuna's only). Reads only."""
    insp = inspect(engine)
    shapes = known()
    found = []
    for name in sorted(insp.get_table_names()):
        if name.startswith("sqlite_"):
            continue
        shape = shapes.get(name)
        if shape is None:
            found.append(name)
            continue
        columns = {c["name"] for c in insp.get_columns(name)}
        pk = set(insp.get_pk_constraint(name).get("constrained_columns") or [])
        extra = sorted(columns - shape.columns)
        if extra or pk != shape.primary_key:
            found.append(f"{name} (columns {', '.join(sorted(columns))})")
    if not found and OPTUNA_VERSION_TABLE in insp.get_table_names():
        revisions = _revisions(engine, OPTUNA_VERSION_TABLE)
        if revisions - optuna_revisions():
            found.append(f"{OPTUNA_VERSION_TABLE} (revision {', '.join(sorted(revisions))}, not Optuna's)")
    return found


def _revisions(engine: Any, table: str) -> set[str]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text(f'SELECT version_num FROM "{table}"'))}


def newer_revision(engine: Any) -> str | None:
    """lorasweep's schema revision when this release does not know it (a newer lorasweep wrote it)."""
    if VERSION_TABLE not in inspect(engine).get_table_names():
        return None
    unknown = _revisions(engine, VERSION_TABLE) - lorasweep_revisions()
    return ", ".join(sorted(unknown)) or None


def foreign_message(shown: str, where: str, tables: list[str]) -> str:
    listed = "; ".join(tables[:5]) + ("; ..." if len(tables) > 5 else "")
    return (
        f"--storage {shown}: {where} holds tables lorasweep did not create ({listed}): another application's "
        f"database; give lorasweep a {'database' if where == 'the database' else 'file'} of its own"
    )


def newer_message(shown: str, revision: str) -> str:
    return (
        f"--storage {shown} was written by a newer lorasweep (schema {revision}; this release knows up to "
        f"{max(lorasweep_revisions())}); upgrade lorasweep to read or write it"
    )
