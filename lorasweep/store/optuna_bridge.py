"""Optuna's RDBStorage on lorasweep's database (Optuna keeps its own tables there)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from lorasweep.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    created_once,
    retrying,
    sqlite_busy_timeout,
    sqlite_pragmas,
)

if TYPE_CHECKING:
    import optuna

    from lorasweep.store.storage import Storage


def optuna_storage(storage: Storage) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage on the same database as ``storage``.

    It connects with the storage's password (``storage.engine.url.password``), but keeps none in
    what it pickles: Ray pickles searchers, and Optuna's ``RDBStorage.__getstate__`` keeps ``url``
    (the storage's password-free URL) and ``engine_kwargs``. Creating Optuna's tables is retried
    when another process creates them at the same moment."""
    import optuna

    sqlite = make_url(storage.url).get_backend_name() == "sqlite"
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if sqlite else {}
    kwargs: dict[str, Any] = {} if sqlite else {"pool_pre_ping": True}
    password = storage.engine.url.password
    secret = {"password": password} if password is not None else {}
    live = {**kwargs, "connect_args": {**connect_args, **secret}}
    what = "opening the Optuna storage"
    rdb = created_once(
        lambda: retrying(lambda: optuna.storages.RDBStorage(storage.url, engine_kwargs=live), what), what
    )
    rdb.engine_kwargs = {**kwargs, "connect_args": connect_args}  # the live engine keeps the password
    if sqlite:  # the same connection settings as lorasweep's own engine, from the next connection on
        event.listen(rdb.engine, "connect", sqlite_busy_timeout if storage.readonly else sqlite_pragmas)
        rdb.engine.dispose()
    return rdb
