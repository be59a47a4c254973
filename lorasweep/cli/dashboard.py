"""``lorasweep dashboard``: optuna-dashboard on the same database, its address checked first."""

from __future__ import annotations

import click

from lorasweep.cli.console import shown
from lorasweep.cli.options import storage_option
from lorasweep.errors import LorasweepError


@click.command("dashboard")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard(storage: str, host: str, port: int) -> None:
    """Browse the Optuna studies in optuna-dashboard (same database, read-only)."""
    from lorasweep.report.optuna_dashboard import serve
    from lorasweep.store import Storage

    check_listen(host, port)
    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        if not st.has_table("studies"):  # Optuna's tables: a read-only dashboard cannot create them
            raise LorasweepError(
                f"--storage {shown(storage)}: no search has run on this database yet (it holds no Optuna studies); "
                "run lorasweep compare first"
            )
        if not loopback(host):
            click.echo(
                f"warning: --host {host}: the dashboard is reachable from the network without a password (anyone "
                "there sees every study; it cannot change them); use --host 127.0.0.1 unless you mean it",
                err=True,
            )
        click.echo(f"optuna-dashboard on http://{host}:{port}, read-only (Ctrl-C to stop)", err=True)
        try:
            serve(st, host=host, port=port)
        except OSError as e:  # the port was taken between the check and the start
            raise LorasweepError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); pick another") from e


def loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to an outside address
        return False


def check_listen(host: str, port: int) -> None:
    """The dashboard's address must be free and bindable, before anything else starts."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise LorasweepError(f"--host {host}: not an address of this machine ({reason}); use e.g. 127.0.0.1") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server does
        try:
            sock.bind(address)
        except OSError as e:
            raise LorasweepError(
                f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); pick another port with --port "
                "or stop what uses it"
            ) from e
