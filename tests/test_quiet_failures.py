"""Issue 24: a search whose every trial raises printed ~290 lines of Ray tracebacks (one per
failed trial, then Tune's list of them) before lorasweep's promised one line. Now the user's
terminal shows the headline, the progress bars and that one line, which says so and why; the
trials' errors are stored (``lorasweep report``), and ``--verbose`` shows Ray's output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a real compare under a local Ray (in a process of its own)
def test_every_trial_failing_is_one_line_that_says_so_and_why(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text('def fit(trial):\n    raise RuntimeError("out of memory in my collator")\n')
    raw = yaml.safe_load(TINY.read_text())
    raw.pop("model")
    raw.update(
        task={
            "kind": "python",
            "name": "boom",
            "entrypoint": "boom:fit",
            "metrics": [{"name": "score", "direction": "maximize"}],
            "target_modules": ["query", "value"],
        },
        metric={"name": "score"},
        budget={"trials": 2, "max_steps": 10, "eval_every": 5},
    )
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(raw))
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run(
        [sys.executable, "-m", "lorasweep", "compare", "--config", str(tmp_path / "exp.yaml"), "--storage",
         f"sqlite:///{db}", "--name", "allfail"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr and "ERROR" not in out.stderr, out.stderr[-3000:]
    assert lines[0].startswith("allfail: lr_only vs lora_alpha, rank [4], 2 trials × 10 steps each"), lines
    bars = [line for line in lines[1:-1] if line.split()[0] in ("lr_only", "lora_alpha")]
    assert bars == lines[1:-1], lines  # nothing between the headline and the error but the progress bars
    assert lines[-1] == (
        "error: no trial completed: all 4 failed; the first with: RuntimeError: out of memory in my collator "
        f"({tmp_path}/boom.py:2 in fit) (see lorasweep report --storage sqlite:///{db} --experiment allfail "
        "--out report.html)"
    )
