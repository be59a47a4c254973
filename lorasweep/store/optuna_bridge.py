"""Optuna's RDBStorage on lorasweep's database (Optuna keeps its own tables there)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from lorasweep.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    created_once,
    postgres_read_only,
    retrying,
    sqlite_busy_timeout,
    sqlite_pragmas,
    sqlite_read_only_creator,
)

if TYPE_CHECKING:
    import optuna

    from lorasweep.store.storage import Storage


def optuna_storage(storage: Storage, *, read_only: bool = False) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage on the same database as ``storage``.

    It connects with the storage's password (``storage.engine.url.password``), but keeps none in
    what it pickles: Ray pickles searchers, and Optuna's ``RDBStorage.__getstate__`` keeps ``url``
    (the storage's password-free URL) and ``engine_kwargs``. Creating Optuna's tables is retried
    when another process creates them at the same moment.

    ``read_only`` (what ``lorasweep dashboard`` serves): its connections cannot write, whatever is
    asked of them (SQLite opened with ``mode=ro``; PostgreSQL sessions with
    ``default_transaction_read_only``), so Optuna's tables must exist already."""
    import optuna

    url = make_url(storage.url)
    sqlite = url.get_backend_name() == "sqlite"
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if sqlite else {}
    kwargs: dict[str, Any] = {} if sqlite else {"pool_pre_ping": True}
    if read_only and sqlite:
        kwargs["creator"] = sqlite_read_only_creator(Path(str(url.database)))
    elif read_only:
        connect_args.update(postgres_read_only(dict(url.query)))
    password = storage.engine.url.password
    secret = {"password": password} if password is not None else {}
    live = {**kwargs, "connect_args": {**connect_args, **secret}}
    what = "opening the Optuna storage"
    rdb = created_once(
        lambda: retrying(lambda: optuna.storages.RDBStorage(storage.url, engine_kwargs=live), what), what
    )
    rdb.engine_kwargs = {**kwargs, "connect_args": connect_args}  # the live engine keeps the password
    if sqlite:  # the same connection settings as lorasweep's own engine, from the next connection on
        quiet = storage.readonly or read_only
        event.listen(rdb.engine, "connect", sqlite_busy_timeout if quiet else sqlite_pragmas)
        rdb.engine.dispose()
    return rdb
