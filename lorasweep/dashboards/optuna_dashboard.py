"""``lorasweep dashboard``: optuna-dashboard on the same database, in this process.

The storage object is handed over in-process, so the URL (and any password in it) never shows
up on a command line. It binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from lorasweep.store import optuna_storage


def serve(url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    from optuna_dashboard import run_server

    run_server(optuna_storage(url), host=host, port=port)
