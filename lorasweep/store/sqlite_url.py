"""Every way a SQLite URL can name a database, reduced to one file path (or a refusal).

``sqlite:///app.db``, ``sqlite:////abs/app.db``, ``sqlite:///file:app.db?uri=true`` (relative or
absolute, ``file:///abs``), with ``mode=ro|rw|rwc``; ``?mode=ro`` on a plain path too. An in-memory
database (``sqlite://``, ``:memory:``, ``mode=memory``) is refused: it vanishes when the command
ends and Ray's trial processes cannot reach it. Other URI parameters are refused rather than
dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lorasweep.errors import StorageError

URI_PARAMETERS = {"uri", "mode", "cache"}


@dataclass(frozen=True, kw_only=True)
class SqliteTarget:
    path: Path  # absolute
    readonly: bool  # mode=ro


def sqlite_target(shown: str, database: str | None, query: dict[str, object]) -> SqliteTarget:
    """The file a SQLite URL names; a one-line :class:`StorageError` for what lorasweep cannot use."""
    mode = str(query.get("mode", "")).lower()
    if database in (None, "", ":memory:") or mode == "memory" or (database or "").startswith("file::memory:"):
        raise StorageError(
            f"--storage {shown} is an in-memory SQLite database: it vanishes when the command ends and Ray's "
            "trials cannot reach it; give a file, e.g. sqlite:///lorasweep.db"
        )
    assert database is not None
    if database.startswith("file:"):
        unknown = sorted(set(query) - URI_PARAMETERS)
        if unknown:
            raise StorageError(
                f"--storage {shown}: URI parameter {', '.join(unknown)} is not supported; lorasweep reads "
                "mode=ro|rw|rwc (and cache) from a file: URI"
            )
        parts = urlsplit(database)
        raw = unquote(parts.path)
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"--storage {shown}: a file: URI names a host ({parts.netloc}); give a local path")
        path = Path(raw)
    else:
        path = Path(database)
    if mode not in ("", "ro", "rw", "rwc"):
        raise StorageError(f"--storage {shown}: mode={mode} is not a SQLite mode; use mode=ro, rw or rwc")
    return SqliteTarget(path=path.expanduser().absolute(), readonly=mode == "ro")
