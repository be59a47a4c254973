"""Issue 24: Ray's dashboard and runtime-env agents outlived a stopped driver by about a minute.
Every process a local Ray started for a ``lorasweep compare`` is gone when the command exits."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]


def _descendants(pid: int, seen: dict[int, str], done: threading.Event) -> None:
    """Every process below ``pid`` while it runs (pid → name and start time)."""
    try:
        root = psutil.Process(pid)
        while not done.is_set():
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    seen.setdefault(child.pid, f"{child.name()} {child.create_time()}")
            time.sleep(0.2)
    except psutil.Error:
        return


def _alive(seen: dict[int, str]) -> list[str]:
    out = []
    for pid, what in seen.items():
        try:
            p = psutil.Process(pid)
            if f"{p.name()} {p.create_time()}" == what and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {p.name()} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            continue
    return out


@pytest.mark.slow  # a real compare under a local Ray (in a process of its own)
def test_no_ray_process_outlives_the_compare(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorasweep", "compare", "--config", str(TINY), "--storage",
         f"sqlite:///{tmp_path / 'runs.db'}", "--name", "procs", "--trials", "1", "--max-steps", "10"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: dict[int, str] = {}
    done = threading.Event()
    watcher = threading.Thread(target=_descendants, args=(proc.pid, seen, done), daemon=True)
    watcher.start()
    try:
        _, err = proc.communicate(timeout=600)
    finally:
        done.set()
        watcher.join(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    names = " ".join(seen.values())
    assert "raylet" in names and "gcs_server" in names, names  # a local Ray ran below the command
    deadline = time.monotonic() + 5  # (the kernel reaps what was killed; not a timing of lorasweep)
    while (left := _alive(seen)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], left
