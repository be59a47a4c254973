"""Vetting a SQLite file before anything connects to it: its folder, its permissions, that it is
SQLite, and that it holds no other application's tables (such a file is refused, untouched)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from lorasweep.errors import StorageError
from lorasweep.store import ownership


def foreign_tables(path: Path) -> list[str]:
    """The tables of a SQLite file that neither lorasweep nor Optuna made, by name and shape
    (through a read-only connection: changes nothing, journal mode included)."""
    uri = f"{path.as_uri()}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        return ownership.foreign(engine)
    finally:
        engine.dispose()


def check_sqlite_file(shown: str, path: Path, *, create: bool, readonly: bool) -> None:
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
        foreign = foreign_tables(path)
    except (sqlite3.DatabaseError, DBAPIError) as e:
        why = getattr(e, "orig", e)
        raise StorageError(
            f"--storage {shown}: {path} is not a SQLite database ({why}); point --storage at a lorasweep database "
            "or a new file"
        ) from e
    if foreign:
        raise StorageError(ownership.foreign_message(shown, str(path), foreign))
