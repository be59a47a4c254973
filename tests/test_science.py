"""The paper's questions on tiny runs: the rank law, the LR × α landscape, drift over steps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lorasweep.dashboards.science import binned_r2
from lorasweep.store import Storage, TrialKind

from conftest import TINY, run_cli


def test_binned_r2_measures_how_much_one_coordinate_explains() -> None:
    xs = [10.0**k for k in range(-6, 0) for _ in range(3)]  # 6 values, 3 points each
    assert binned_r2(xs, [math.log10(x) for x in xs], bins=6) == pytest.approx(1.0)
    assert binned_r2(xs, [0.0, 1.0, 2.0] * 6, bins=6) == pytest.approx(0.0)  # same spread at every x
    assert binned_r2([1.0, 2.0], [0.0, 1.0], bins=2) is None


def test_rank_law_command_fits_alpha_star_over_ranks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'law.db'}"
    args = ["rank-law", "--config", str(TINY), "--storage", url, "--name", "law", "--ranks", "2,4,8"]
    code, out, err = run_cli(*args, "--trials", "3", "--max-steps", "10")
    assert code == 0, err
    assert "alpha*(r=2)" in out and "fit: alpha* =" in out and "p = 0.5" in out
    code, out, _ = run_cli("report", "--storage", url, "--json")
    law = json.loads(out)["rank_law"]
    assert law["space"] == "lora_alpha" and sorted(law["alpha_star"], key=int) == ["2", "4", "8"]
    assert law["p_ci"][0] <= law["p"] <= law["p_ci"][1] and law["c_ci"][0] <= law["c"] <= law["c_ci"][1]
    assert {r["name"] for r in law["references"]} >= {"alpha = r", "paper: alpha = 256·sqrt(r)"}
    assert isinstance(law["p_1_inside"], bool) and isinstance(law["p_0.5_inside"], bool)
    page = tmp_path / "law.html"
    assert run_cli("report", "--storage", url, "--out", str(page))[0] == 0
    assert "vs rank (lora_alpha)" in page.read_text()


def test_landscape_command_grids_lr_by_alpha(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'land.db'}"
    args = ["landscape", "--config", str(TINY), "--storage", url, "--name", "land", "--points", "3"]
    code, out, err = run_cli(*args, "--max-steps", "10")
    assert code == 0, err
    assert "s·LR   alone explains" in out
    code, out, _ = run_cli("report", "--storage", url, "--json")
    doc = json.loads(out)
    land = doc["landscape"]
    assert land["space"] == "joint" and len(land["points"]) == 9  # the 3 × 3 grid, FIFO: none pruned
    assert len({p["lr"] for p in land["points"]}) == 3 and len({p["alpha"] for p in land["points"]}) == 3
    for key in ("effective_step_r2", "alpha_r2", "lr_r2"):
        assert land[key] is None or -1e-9 <= land[key] <= 1 + 1e-9
    assert doc["spaces"]["joint"]["n_trials"] == 9
    curve = doc["drift_ratio"]["joint"]
    assert curve and all(ratio >= 0 for _, ratio in curve)
    page = tmp_path / "land.html"
    assert run_cli("report", "--storage", url, "--out", str(page))[0] == 0
    text = page.read_text()
    assert "landscape (joint, r=4)" in text and "Drift ratio" in text


def test_seeds_rerun_the_best_configs_and_identical_spaces_get_no_clear_difference(tmp_path: Path) -> None:
    """Two copies of one space search identically, so their re-runs on new seeds are identical:
    the paired difference is exactly 0 and the verdict must say so."""
    url = f"sqlite:///{tmp_path / 'seeds.db'}"
    cfg = tmp_path / "twins.yaml"
    cfg.write_text(
        TINY.read_text().replace("spaces: [lr_only, lora_alpha]", "spaces: [lr_only, {use: lr_only, name: lr_twin}]")
    )
    args = ["compare", "--config", str(cfg), "--storage", url, "--name", "twins", "--trials", "3"]
    code, out, err = run_cli(*args, "--max-steps", "10", "--seeds", "3")
    assert code == 0, err
    assert "no clear difference" in out
    doc = json.loads(run_cli("report", "--storage", url, "--json")[1])
    assert doc["spaces"]["lr_only"]["n_trials"] == 3  # the re-runs are not search trials
    for name in ("lr_only", "lr_twin"):
        assert doc["seeds"][name]["n"] == 3
        lo, hi = doc["seeds"][name]["ci"]
        assert lo <= doc["seeds"][name]["mean"] <= hi
    assert doc["seeds"]["lr_only"] == doc["seeds"]["lr_twin"]
    assert doc["difference"] == {
        "mean": 0.0,
        "ci": [0.0, 0.0],
        "n": 3,
        "sd": 0.0,
        "confidence": 0.95,
        "method": "paired t-interval",
    }
    assert doc["verdict"].startswith("no clear difference between lr_only and lr_twin")
    assert doc["seed_verdict"]["method"] == "paired t-interval, 95 %, n = 3" and doc["seed_verdict"]["winner"] is None
    assert all(r["total"] == r["complete"] == 3 for r in doc["seed_verdict"]["reruns"].values())
    with Storage.open(url) as st:
        reruns = [t for t in st.trials(st.experiment("twins").id) if t.kind == TrialKind.SEEDS]
    assert len(reruns) == 6 and {t.seed for t in reruns} == {1, 2, 3}
    assert all(t.optuna_number is None for t in reruns)
