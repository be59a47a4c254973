"""Reusing what earlier studies learned: ``recommend`` (α for a new rank) and ``--warm-start``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import optuna
import pytest

from lorasweep.config import Direction, FloatRange, SqrtRankAlpha, load_experiment
from lorasweep.search.spaces import load_space
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState

from conftest import TINY, run_cli


def _store_law(url: str, c: float, ranks: list[int], task: str = "tiny_sentiment") -> None:
    """Studies of lora_alpha at ``ranks`` whose best trial has α = c·√r (a worse one beside it)."""
    exp = load_experiment(TINY, {"task.name": task})
    # as a study stores it: concrete ranges (here c in 1..1024, as searched before ranges were matched)
    space = load_space("lora_alpha").model_copy(
        update={"alpha": SqrtRankAlpha(rule="sqrt_rank", c=FloatRange(low=1.0, high=1024.0))}
    )
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment(f"law-{task}", "", exp.model_dump(mode="json"))
        for r in ranks:
            study = st.add_study(
                record.id,
                "lora_alpha",
                r,
                f"law-{task}/lora_alpha/r{r}",
                "accuracy",
                Direction.MAXIMIZE,
                space.model_dump(mode="json"),
            )
            for i, (alpha, value) in enumerate([(c * math.sqrt(r), 0.9), (3 * c * math.sqrt(r), 0.6)]):
                lora = {
                    "r": r,
                    "alpha": alpha,
                    "c": alpha / math.sqrt(r),
                    "lr": 2e-5,
                    "scaling": alpha / r,
                    "effective_step": 2e-5 * alpha / r,
                    "use_rslora": False,
                }
                tid = st.start_trial(TrialStart(study.id, f"{r}-{i}", i, {"c": lora["c"]}, lora, seed=0))
                report = ReportRecord(tid, 10, value, 0.5, 2e-5, 160, 1600, 1.0, {"accuracy": value})
                st.finish_trial(
                    tid, TrialFinish(TrialState.COMPLETE, value, value, 10, None, None, 1, 1, 160, 1600, (report,))
                )


def test_recommend_fits_the_law_and_predicts_alpha_for_a_new_rank(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16, 64])
    code, out, err = run_cli("recommend", "--storage", url, "--rank", "32", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["law"]["p"] == pytest.approx(0.5) and rec["law"]["c"] == pytest.approx(256.0)
    assert rec["alpha"] == pytest.approx(256.0 * math.sqrt(32))
    lo, hi = rec["alpha_ci"]
    assert lo <= rec["alpha"] <= hi and rec["lr"] == 2e-5
    assert sorted(s["rank"] for s in rec["sources"]) == [4, 8, 16, 64]
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "32")
    assert code == 0 and "rank 32: alpha = 1448" in out and "law from 4 studies" in out


def test_recommend_says_plainly_when_there_is_too_little_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 100.0, [8])
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "16")
    assert code == 0 and "not enough data: alpha* is known at rank 8 only" in out
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "8")
    assert "rank 8 was searched: alpha* = 282.8" in out
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "8", "--task", "other")
    assert "no stored study for task other searched alpha" in out


def test_warm_start_evaluates_the_earlier_best_points_first(tiny_db: tuple[str, Path], tmp_path: Path) -> None:
    _, path = tiny_db
    copy = tmp_path / "warm.db"
    for suffix in ("", "-wal", "-shm"):  # SQLite in WAL mode: the log holds recent commits
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", f"{copy}{suffix}")
    url = f"sqlite:///{copy}"
    code, _, err = run_cli(
        "compare", "--config", str(TINY), "--storage", url, "--name", "warm", "--trials", "3", "--warm-start", "nope"
    )
    assert code == 2 and "no experiment 'nope'" in err
    code, _, err = run_cli(
        "compare", "--config", str(TINY), "--storage", url, "--name", "warm", "--trials", "3", "--warm-start", "tiny"
    )
    assert code == 0, err
    with Storage.open(url) as st:
        earlier = st.experiment("tiny")
        stored = st.experiment("warm")
        assert stored.config["warm_start"] == {"experiment": "tiny", "top_k": 2}
        trials = st.trials(earlier.id)
        studies = {s.id: s for s in st.studies(earlier.id)}
    for space in ("lr_only", "lora_alpha"):
        done = [t for t in trials if studies[t.study_id].space == space and t.state == TrialState.COMPLETE]
        best = max(done, key=lambda t: t.final_value)
        new = optuna.load_study(study_name=f"warm/{space}/r4", storage=url)
        first = min(new.trials, key=lambda t: t.number)
        assert first.params == best.params  # the earlier best runs first
        assert len(new.trials) == 3


def test_recommend_warns_when_alpha_star_sits_at_the_edge_of_the_range(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 1000.0, [4, 16])  # lora_alpha searches c in 1..1024: 1000 is at its top
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "8")
    assert code == 0 and "warning: 2 of 2 studies found alpha* at the edge" in out
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "8", "--json")
    assert all(s["at_edge"] for s in json.loads(out)["sources"])
