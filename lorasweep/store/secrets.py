"""Database passwords: where they come from, and how they stay out of everything stored.

A password reaches the database driver from one of, in order:

1. the URL itself (``postgresql+psycopg://user:PASSWORD@host/db``): accepted for local use, then
   removed from the URL lorasweep keeps;
2. the file named by ``LORASWEEP_DB_PASSWORD_FILE`` (a Docker/Kubernetes secret, mode 600);
3. libpq's own ``PGPASSWORD`` or ``~/.pgpass`` / ``PGPASSFILE`` (psycopg reads them itself;
   lorasweep never sees the password).

lorasweep keeps only the password-free URL (:func:`split_password`). The password is handed to the
driver as a connection argument of the live engine and never written: not to logs (messages use
:func:`safe_url`), not to stored rows or study attributes (they hold no URL), not to Ray's pickles
(:class:`~lorasweep.store.storage.Storage` pickles as its password-free URL; the Optuna storage
handed to Ray keeps no password in its picklable state, see ``optuna_storage``).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from lorasweep.errors import StorageError

#: Environment variable naming a file that holds the database password.
PASSWORD_FILE_ENV = "LORASWEEP_DB_PASSWORD_FILE"
#: Environment variable giving the default ``--storage`` URL of every command.
STORAGE_ENV = "LORASWEEP_STORAGE"


def safe_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def split_password(url: str) -> tuple[str, str | None]:
    """``(url without its password, the password or None)``."""
    parsed = make_url(url)
    if parsed.password is None:
        return url, None
    without = URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    )
    return without.render_as_string(hide_password=False), str(parsed.password)


def password_from_file() -> str | None:
    """The password in the file ``$LORASWEEP_DB_PASSWORD_FILE`` (None when the variable is unset)."""
    name = os.environ.get(PASSWORD_FILE_ENV)
    if not name:
        return None
    path = Path(name).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise StorageError(
            f"{PASSWORD_FILE_ENV}={path}: cannot be read ({e.strerror}); point it at a readable file holding "
            "the database password"
        ) from e
    password = text.rstrip("\r\n")
    if not password:
        raise StorageError(f"{PASSWORD_FILE_ENV}={path}: the file is empty; write the database password in it")
    return password


def resolve_password(url: str) -> tuple[str, str | None]:
    """The password-free URL and the password to connect with (None: leave it to libpq)."""
    clean, password = split_password(url)
    return clean, password if password is not None else password_from_file()
