"""Database passwords: where they come from, and how they stay out of everything stored.

A password reaches the database driver from one of, in order:

1. the URL itself (``postgresql+psycopg://user:PASSWORD@host/db``, or ``?password=PASSWORD``):
   accepted for local use, then removed from the URL lorasweep keeps;
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
import re
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from lorasweep.errors import StorageError

#: Environment variable naming a file that holds the database password.
PASSWORD_FILE_ENV = "LORASWEEP_DB_PASSWORD_FILE"
#: Environment variable giving the default ``--storage`` URL of every command.
STORAGE_ENV = "LORASWEEP_STORAGE"


#: Query parameters that hold secrets (libpq's ``password`` and the SSL key's ``sslpassword``),
#: compared without case.
SECRET_PARAMS = frozenset({"password", "sslpassword"})
_USERINFO_PASSWORD = re.compile(r"(//[^/:@?#]*):[^@/?#]*@")
_QUERY_SECRET = re.compile(r"([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#]*", re.IGNORECASE)


def safe_url(url: str) -> str:
    """The URL with every password replaced by ***, for messages and logs: the one in the
    userinfo (``user:PASSWORD@``) and ``password=`` / ``sslpassword=`` query parameters (any case);
    a URL that does not parse is masked the same way, as text."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        return _QUERY_SECRET.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [
        (key, "***" if key.lower() in SECRET_PARAMS else item)
        for key, value in parsed.query.items()
        for item in (value if isinstance(value, tuple) else (value,))
    ]
    return f"{shown}?{urlencode(pairs, safe='*/:,')}" if pairs else shown


def split_password(url: str) -> tuple[str, str | None]:
    """``(url without its password, the password or None)``: from the userinfo, else from a
    ``password=`` query parameter (libpq's), which is removed too."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k != "password"}
    in_query = parsed.query.get("password")
    if isinstance(in_query, tuple):
        in_query = in_query[-1]
    password = parsed.password if parsed.password is not None else in_query
    if password is None:
        return url, None
    without = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, query)
    return without.render_as_string(hide_password=False), str(password)


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
