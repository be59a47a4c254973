"""Start real Ray nodes on this machine for tests and benchmarks: ``ray start --block`` in a
process group of its own, every port chosen free and outside Ray's worker range, stopped with
everything it started afterwards. The one Ray-head launcher that ``tests/conftest.py``,
``tests/test_cluster.py`` and ``benchmarks/db_load.py`` share.

Ray is driven through its CLI in a child process: importing this module imports no Ray.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["BIN", "RAY_WORKER_PORTS", "alive_nodes", "free_port", "ray_env", "ray_head", "start_node", "stop_node"]

#: The folder of this interpreter's console scripts (``ray``, ``lorasweep``).
BIN = Path(sys.executable).parent
#: Ray's own worker ports (``--min-worker-port``..``--max-worker-port``): every port chosen here lies outside.
RAY_WORKER_PORTS = range(10002, 20000)


def free_port(*, outside: range = RAY_WORKER_PORTS) -> int:
    """A TCP port on 127.0.0.1 that is free now, not in ``outside``."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in outside:
            return port


def ray_env(**extra: str) -> dict[str, str]:
    """The environment of a Ray node or driver started here: this interpreter's scripts first on
    PATH, no usage stats, offline Hugging Face, no inherited ``RAY_ADDRESS``; ``extra`` on top."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_USAGE_STATS_ENABLED": "0",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }
    if "RAY_ADDRESS" not in extra:
        env.pop("RAY_ADDRESS", None)
    return env


def start_node(args: list[str], *, env: Mapping[str, str], log: Path, cpus: int = 1) -> subprocess.Popen[bytes]:
    """``ray start --block --num-cpus CPUS ARGS`` (``--head ...`` or ``--address GCS``), each of its
    own ports free; its output goes to ``log``."""
    own = {p: free_port() for p in ("node-manager", "object-manager", "agent", "agent-grpc", "metrics", "env")}
    command = [
        str(BIN / "ray"), "start", "--block", "--num-cpus", str(cpus),
        "--node-manager-port", str(own["node-manager"]), "--object-manager-port", str(own["object-manager"]),
        "--dashboard-agent-listen-port", str(own["agent"]), "--dashboard-agent-grpc-port", str(own["agent-grpc"]),
        "--metrics-export-port", str(own["metrics"]), "--runtime-env-agent-port", str(own["env"]),
        *args,
    ]  # fmt: skip
    out = log.open("w")
    return subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_node(process: subprocess.Popen[bytes]) -> None:
    """Stop a node started by :func:`start_node` (``--block``: SIGTERM stops what it started)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def alive_nodes(gcs: str, env: Mapping[str, str]) -> int:
    """How many nodes of the cluster at ``gcs`` are alive (asked from a fresh driver; 0 when it
    cannot connect yet)."""
    ask = "import ray; ray.init(logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    try:
        out = subprocess.run(
            [sys.executable, "-c", ask], env={**env, "RAY_ADDRESS": gcs}, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return 0
    words = out.stdout.split()
    return int(words[-1]) if out.returncode == 0 and words and words[-1].isdigit() else 0


@contextlib.contextmanager
def ray_head(
    workdir: Path, *, cpus: int = 2, env: Mapping[str, str] | None = None, timeout: float = 180
) -> Iterator[tuple[str, str, Path]]:
    """A Ray head on 127.0.0.1 with ``cpus`` CPUs and the environment ``env`` (default
    :func:`ray_env`; add ``RAY_AUTH_MODE=token`` for token authentication), its log in
    ``workdir/head.log``. Yields its GCS address (``127.0.0.1:PORT``), its dashboard and job API
    (``http://127.0.0.1:PORT``) and its temp dir, once one node is alive; stopped afterwards."""
    env = ray_env() if env is None else env
    temp = Path(tempfile.mkdtemp(prefix="lsray-", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    ports = {name: free_port() for name in ("gcs", "dashboard", "client")}
    gcs = f"127.0.0.1:{ports['gcs']}"
    log = workdir / "head.log"
    head = start_node(
        [
            "--head", "--port", str(ports["gcs"]), "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(ports["dashboard"]), "--ray-client-server-port", str(ports["client"]),
            "--temp-dir", str(temp),
        ],
        env=env, log=log, cpus=cpus,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while alive_nodes(gcs, env) < 1:
            if time.monotonic() > deadline or head.poll() is not None:
                raise RuntimeError(f"the Ray head did not start: {log.read_text()[-2000:]}")
            time.sleep(1)
        yield gcs, f"http://127.0.0.1:{ports['dashboard']}", temp
    finally:
        stop_node(head)
        shutil.rmtree(temp, ignore_errors=True)
