"""``lorasweep dashboard``: optuna-dashboard on the same database, in this process.

The storage object is handed over in-process, so the URL (and any password in it) never shows
up on a command line. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from lorasweep.store import Storage, optuna_storage


def serve(storage: Storage, host: str = "127.0.0.1", port: int = 8080) -> None:
    from optuna_dashboard import run_server

    run_server(optuna_storage(storage), host=host, port=port)
