"""The paper's questions on tiny runs: the rank law, the LR × α landscape, drift over steps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from lorasweep.analysis.landscape import binned_r2
from lorasweep.store import Storage, TrialKind

from conftest import TINY, run_cli


def test_binned_r2_measures_how_much_one_coordinate_explains() -> None:
    xs = [10.0**k for k in range(-6, 0) for _ in range(3)]  # 6 values, 3 points each
    assert binned_r2(xs, [math.log10(x) for x in xs], bins=6) == pytest.approx(1.0)
    assert binned_r2(xs, [0.0, 1.0, 2.0] * 6, bins=6) == pytest.approx(0.0)  # same spread at every x
    assert binned_r2([1.0, 2.0], [0.0, 1.0], bins=2) is None


@pytest.mark.slow
def test_rank_law_command_on_runs_that_learned_nothing_fits_no_law(tmp_path: Path) -> None:
    """End to end through Ray and the store: 10 steps at LR 2e-5 leave the tiny model at chance
    (about 66/128 right; 200 steps at LR 1e-2 reach 0.85, tests/test_train.py), so no rank's α*
    means anything. rank-law used to fit a law through them and rule on p; now every rank is left
    out with its reason, and the CLI, the JSON and the HTML say there is no fit."""
    url = f"sqlite:///{tmp_path / 'law.db'}"
    args = ["rank-law", "--config", str(TINY), "--storage", url, "--name", "law", "--ranks", "2,4,8"]
    code, out, err = run_cli(*args, "--trials", "3", "--max-steps", "10")
    assert code == 0, err
    assert "space: lora_alpha searches c at a fixed LR" in out
    for r in (2, 4, 8):
        assert f"rank {r} left out of the fit: learned nothing: best accuracy" in out
    assert "no fit: fewer than 2 ranks left to fit" in out and "p = 0.5" not in out and "fit: alpha*" not in out
    code, out, _ = run_cli("report", "--storage", url, "--json")
    law = json.loads(out)["rank_law"]
    assert (
        law["space"] == "lora_alpha" and law["alpha_star"] == {} and sorted(law["excluded"], key=int) == ["2", "4", "8"]
    )
    assert law["p"] is None and law["p_ci"] is None and law["p_ambiguous"] is None
    assert all("not above the eval set's majority-class rate" in why for why in law["learned"].values())
    page = tmp_path / "law.html"
    assert run_cli("report", "--storage", url, "--out", str(page))[0] == 0
    text = page.read_text()
    assert "vs rank (lora_alpha)" in text and "r=2 left out: learned nothing" in text


@pytest.mark.slow
def test_landscape_command_grids_lr_by_alpha(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'land.db'}"
    args = ["landscape", "--config", str(TINY), "--storage", url, "--name", "land", "--points", "3"]
    code, out, err = run_cli(*args, "--max-steps", "10")
    assert code == 0, err
    assert "s·LR   alone explains" in out
    code, out, _ = run_cli("report", "--storage", url, "--json")
    doc = json.loads(out)
    land = doc["landscape"]
    # the 3 × 3 grid, FIFO: none pruned; a corner at s·LR ≈ 5 may diverge (then it is no point)
    joint = doc["spaces"]["joint"]
    assert land["space"] == "joint" and len(land["points"]) + joint["n_diverged"] == 9 and len(land["points"]) >= 6
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


@pytest.mark.slow
def test_seeds_rerun_the_best_configs_and_identical_spaces_get_no_clear_difference(tmp_path: Path) -> None:
    """Two copies of one space search identically, so their re-runs on new seeds are identical:
    every seed is a tie, the typical difference exactly 0, and no verdict is named."""
    url = f"sqlite:///{tmp_path / 'seeds.db'}"
    cfg = tmp_path / "twins.yaml"
    cfg.write_text(
        TINY.read_text().replace("spaces: [lr_only, lora_alpha]", "spaces: [lr_only, {use: lr_only, name: lr_twin}]")
    )
    args = ["compare", "--config", str(cfg), "--storage", url, "--name", "twins", "--trials", "3"]
    code, out, err = run_cli(*args, "--max-steps", "10", "--seeds", "3")
    assert code == 0, err
    assert "no verdict possible yet between lr_only and lr_twin from 3 seeds" in " ".join(out.split())
    doc = json.loads(run_cli("report", "--storage", url, "--json")[1])
    assert doc["spaces"]["lr_only"]["n_trials"] == 3  # the re-runs are not search trials
    for name in ("lr_only", "lr_twin"):
        assert doc["seeds"][name]["n"] == doc["seeds"][name]["complete"] == 3
        assert doc["seeds"][name]["min"] <= doc["seeds"][name]["median"] <= doc["seeds"][name]["max"]
    assert doc["seeds"]["lr_only"] == doc["seeds"]["lr_twin"]
    assert doc["difference"]["median"] == 0.0 and doc["difference"]["n"] == 3 and doc["difference"]["ci"] is None
    assert doc["seed_verdict"]["paired"]["pooled"]["ties"] == 3  # identical re-runs: every seed a tie
    assert doc["verdict"].startswith("no verdict possible yet between lr_only and lr_twin from 3 seeds")
    assert doc["seed_verdict"]["winner"] is None and doc["seed_verdict"]["looks"] == [3]
    assert all(r["total"] == r["complete"] == 3 for r in doc["seed_verdict"]["reruns"].values())
    with Storage.open(url) as st:
        reruns = [t for t in st.trials(st.experiment("twins").id) if t.kind == TrialKind.SEEDS]
    assert len(reruns) == 6 and {t.seed for t in reruns} == {1, 2, 3}
    assert all(t.optuna_number is None for t in reruns)


# -- which space the rank law and the landscape use (summaries built directly: no Ray, no training)

#: α*(r) / (256·√r) at ranks 4, 8, 16: noisy enough that 3 ranks cannot tell p = 0.5 from p = 1.
NOISE = {4: 1.0, 8: 1.6, 16: 0.8}


def _multi_rank_trials(below_chance: frozenset[int] = frozenset()) -> dict[str, list]:
    """lr_only (listed first; α = 2r at every rank), lora_alpha (c searched at LR 2e-5, best at
    α = 256·√r·NOISE[r]) and joint, at ranks 4, 8, 16; ``below_chance``: ranks where every
    lora_alpha trial stayed below chance."""
    from factories import trial

    out: dict[str, list] = {"lr_only": [], "lora_alpha": [], "joint": []}
    for i, r in enumerate((4, 8, 16)):
        for lr, value in ((1e-5, 0.6), (1e-4, 0.95), (1e-3, 0.7)):
            out["lr_only"].append(trial(10 + i, r, 2.0 * r, lr, value))
        values = (0.45, 0.47, 0.44) if r in below_chance else (0.6, 0.9, 0.7)
        for c, value in zip((16.0, 256.0 * NOISE[r], 1000.0), values, strict=True):
            out["lora_alpha"].append(trial(20 + i, r, c * math.sqrt(r), 2e-5, value))
        for lr, c, value in ((1e-5, 4.0, 0.6), (1e-4, 64.0, 0.8), (1e-3, 512.0, 0.5)):
            out["joint"].append(trial(30 + i, r, c * math.sqrt(r), lr, value))
    return out


def _multi_rank_summary(spaces: list[str], below_chance: frozenset[int] = frozenset()):
    from factories import config, summary

    cfg = config({"ranks": [4, 8, 16], "spaces": spaces})
    trials = _multi_rank_trials(below_chance)
    return summary(cfg, {name: trials[name] for name in spaces})


def _report_json(s: Any) -> dict[str, Any]:
    """The JSON of ``lorasweep report --json`` for summary ``s`` (the report sections' keys)."""
    from lorasweep.report.json_report import to_json
    from lorasweep.report.sections import Report

    return to_json(s, Report.build(s))


def test_rank_law_and_landscape_use_the_spaces_that_search_alpha_even_with_lr_only_first() -> None:
    """lr_only's α = 2r varies with the rank (and so does c = 2√r) but only restates its rule:
    the law must come from lora_alpha (c searched, LR fixed), the landscape from joint."""
    from lorasweep.analysis.landscape import landscape
    from lorasweep.analysis.rank_law import rank_law

    s = _multi_rank_summary(["lr_only", "lora_alpha", "joint"])
    law = rank_law(s)
    assert law is not None and law.space == "lora_alpha"
    assert (
        law.space_reason == "lora_alpha searches c at a fixed LR; also searching alpha over 2+ ranks, not used: joint"
    )
    assert law.alpha_star == pytest.approx({r: 256.0 * math.sqrt(r) * NOISE[r] for r in (4, 8, 16)})
    assert law.fit is not None and law.fit.n == 3 and law.fit.p_ambiguous is True
    land = landscape(s)
    assert land is not None and land.space == "joint" and land.rank == 4 and len(land.points) == 3
    assert land.space_reason == "joint searches LR and c together"
    doc = _report_json(s)  # what lorasweep report --json prints: the sections' JSON
    assert doc["rank_law"]["space"] == "lora_alpha" and doc["rank_law"]["space_reason"] == law.space_reason
    assert doc["rank_law"]["interval_method"] == "OLS of log alpha* on log r, 95% t-interval on n - 2 = 1 df"
    assert doc["rank_law"]["p_ambiguous"] is True and doc["rank_law"]["p_0.5_inside"] is True
    assert doc["rank_law"]["p_1_inside"] is True and "too wide to tell p = 0.5" in doc["rank_law"]["verdict"]
    assert doc["landscape"]["space"] == "joint"


def test_without_a_fixed_lr_alpha_space_the_law_uses_joint_and_says_so() -> None:
    from lorasweep.analysis.landscape import landscape
    from lorasweep.analysis.rank_law import rank_law

    s = _multi_rank_summary(["lr_only", "joint"])
    law = rank_law(s)
    assert law is not None and law.space == "joint"
    assert law.space_reason == "joint searches c (with LR: no space searches alpha at a fixed LR)"
    only_lr = _multi_rank_summary(["lr_only"])  # the old choice: the first space whose c varies
    assert rank_law(only_lr) is None and landscape(only_lr) is None


def test_a_rank_that_learned_nothing_is_left_out_with_its_reason() -> None:
    from lorasweep.analysis.rank_law import rank_law

    law = rank_law(_multi_rank_summary(["lr_only", "lora_alpha"], frozenset({16})))
    assert law is not None and sorted(law.alpha_star) == [4, 8]
    assert law.excluded[16].startswith(
        "learned nothing: best accuracy 0.47 (60/128) is not above the eval set's majority-class rate"
    )
    assert law.fit is not None and law.fit.p_ci is None  # 2 ranks left: a point estimate
    assert law.verdict is not None and law.verdict.startswith("2 ranks give a point estimate only, no interval")
    doc = law.as_dict()
    assert doc["p_ci"] is None and doc["p_1_inside"] is None and doc["p_ambiguous"] is None
    assert doc["excluded"] == {"16": law.excluded[16]} and set(doc["learned"]) == {"4", "8", "16"}


def test_every_rank_below_chance_gives_no_law_and_no_verdict_on_p() -> None:
    """The issue's case: rank-law at 4, 8, 16 where every trial stayed below chance printed
    "p = 0.5 is outside the interval". Now there is no fit, and the reason names each rank."""
    from lorasweep.analysis.rank_law import rank_law
    from lorasweep.report.html import figures
    from lorasweep.report.table import experiment_table

    s = _multi_rank_summary(["lr_only", "lora_alpha"], frozenset({4, 8, 16}))
    law = rank_law(s)
    assert law is not None and law.fit is None and law.alpha_star == {}
    assert law.reason is not None and law.reason.startswith("fewer than 2 ranks left to fit (r=4: learned nothing")
    doc = _report_json(s)["rank_law"]
    assert doc["p"] is None and doc["p_ambiguous"] is None and "outside" not in json.dumps(doc)
    assert "no fit (fewer than 2 ranks left" in str(experiment_table(s).caption)
    title = next(str(f.layout.title.text) for f in figures(s) if "vs rank" in str(f.layout.title.text))
    assert "r=4 left out: learned nothing: best accuracy 0.47 (60/128)" in title


def test_report_outputs_say_when_the_interval_cannot_tell_the_laws_apart() -> None:
    from lorasweep.report.html import figures
    from lorasweep.report.table import experiment_table

    s = _multi_rank_summary(["lr_only", "lora_alpha", "joint"])
    caption = str(experiment_table(s).caption)
    # the caption's lines: the seed verdict's (none from one search seed), then the rank law's
    assert any(line.startswith("Rank law on lora_alpha searches c at a fixed LR") for line in caption.splitlines())
    assert "too wide to tell p = 0.5 (sqrt(r)) from p = 1 (alpha ∝ r): both are inside" in caption
    titles = [str(f.layout.title.text) for f in figures(s)]
    law_title = next(t for t in titles if t.startswith("α* vs rank (lora_alpha)"))
    assert "too wide to tell p = 0.5" in law_title and "searches c at a fixed LR" in law_title
    assert any(t.startswith("LR × α landscape (joint, r=4)") for t in titles)
