"""A throwaway PostgreSQL server for tests: initdb into a temp dir, 127.0.0.1, a free port,
password authentication (scram-sha-256), stopped and deleted afterwards.

initdb and postgres refuse to run as root; as root they run as the ``postgres`` user. The server
binaries are looked up in /usr/lib/postgresql/*/bin, then on PATH.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import free_port

USER = "lorasweep"
DATABASE = "lorasweep"


NEEDED = ("initdb", "pg_ctl", "createdb")


def find_bin() -> Path | None:
    """A folder holding initdb, pg_ctl and createdb (the newest server version first)."""
    folders = [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    if found := shutil.which("initdb"):
        folders.append(Path(found).parent)
    return next((f for f in folders if all((f / n).exists() for n in NEEDED)), None)


class PostgresServer:
    def __init__(self, bindir: Path, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync on (benchmarks); tests turn it off for speed
        self.root = Path(tempfile.mkdtemp(prefix="lorasweep-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(12)  # tests look for this string where it must not be
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            shutil.chown(pwfile, "postgres")
        pwfile.chmod(0o600)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "--auth=scram-sha-256", "-E", "UTF8"
        )
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n")
            f.write("max_connections = 200\n")
            if not self.durable:
                f.write("fsync = off\n")  # tests: speed over durability

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-m", "fast", "-w", "restart")

    def createdb(self, name: str) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        subprocess.run(
            [str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )

    def url(self, database: str = DATABASE, with_password: bool = False) -> str:
        secret = f":{self.password}" if with_password else ""
        return f"postgresql+psycopg://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_server(durable: bool = False) -> Iterator[PostgresServer]:
    bindir = find_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (pg_ctl, initdb) not found")
    server = PostgresServer(bindir, durable)
    try:
        server.init()
        server.start()
        server.createdb(DATABASE)
        yield server
    finally:
        server.cleanup()


_counter = iter(range(1, 1_000_000))


def fresh_database(server: PostgresServer) -> str:
    """A new empty database on ``server``; its URL without the password."""
    name = f"t{next(_counter)}_{int(time.time() * 1000) % 100000}"
    server.createdb(name)
    return server.url(name)
