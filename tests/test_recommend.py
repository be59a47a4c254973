"""Reusing what earlier studies learned: ``recommend`` (α for a new rank) and ``--warm-start``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import optuna
import pytest

from lorasweep.config import Direction, FloatRange, SqrtRankAlpha, load_experiment
from lorasweep.space.resolve import load_space
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState

from conftest import TINY, run_cli
from factories import lora_params


def _store_law(
    url: str,
    c: float,
    ranks: list[int],
    task: str = "tiny_sentiment",
    *,
    name: str | None = None,
    seed: int = 0,
    values: tuple[float, ...] = (0.9, 0.6),
    rslora: bool = False,
) -> None:
    """Studies of lora_alpha at ``ranks`` whose best trial has α = c·√r (worse ones beside it at
    3c·√r, 9c·√r, ...): one experiment ``name`` (default law-TASK) with ``seed``; ``values`` are
    the trials' accuracies, best first; ``rslora``: the space scales by α/√r (named lora_alpha_rs)."""
    exp = load_experiment(TINY, {"task.name": task, "seed": seed})
    # as a study stores it: concrete ranges (here c in 1..1024, as searched before ranges were matched)
    space = load_space("lora_alpha").model_copy(
        update={"alpha": SqrtRankAlpha(rule="sqrt_rank", c=FloatRange(low=1.0, high=1024.0))}
    )
    if rslora:
        space = space.model_copy(update={"name": "lora_alpha_rs", "use_rslora": True})
    name = name or f"law-{task}"
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment(name, "", exp.model_dump(mode="json"))
        for r in ranks:
            study = st.add_study(
                record.id,
                space=space.name,
                rank=r,
                optuna_study_name=f"{name}/{space.name}/r{r}",
                metric="accuracy",
                direction=Direction.MAXIMIZE,
                space_config=space.model_dump(mode="json"),
            )
            for i, value in enumerate(values):
                alpha = 3**i * c * math.sqrt(r)
                lora = lora_params(rank=r, alpha=alpha, lr=2e-5, use_rslora=rslora)
                tid = st.start_trial(
                    TrialStart(
                        study_id=study.id,
                        ray_trial_id=f"{r}-{i}",
                        optuna_number=i,
                        params={"c": lora.c},
                        lora=lora,
                        seed=0,
                    )
                )
                report = ReportRecord(
                    trial_id=tid,
                    step=10,
                    value=value,
                    train_loss=0.5,
                    lr=2e-5,
                    examples=160,
                    tokens=1600,
                    device_seconds=1.0,
                    metrics={"accuracy": value},
                )
                st.finish_trial(
                    tid,
                    TrialFinish(
                        state=TrialState.COMPLETE,
                        final_value=value,
                        best_value=value,
                        steps=10,
                        diverged_step=None,
                        error=None,
                        device_seconds=1,
                        wall_seconds=1,
                        examples=160,
                        tokens=1600,
                        reports=(report,),
                    ),
                )


def test_recommend_fits_the_law_and_predicts_alpha_for_a_new_rank(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16, 64])
    code, out, err = run_cli("recommend", "--storage", url, "--rank", "32", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["law"]["p"] == pytest.approx(0.5) and rec["law"]["c"] == pytest.approx(256.0)
    assert rec["alpha"] == pytest.approx(256.0 * math.sqrt(32))
    # noiseless α* lie exactly on the law: the fit is exact, no (zero-width) interval is made up
    assert rec["alpha_ci"] is None and rec["law"]["exact"] is True and rec["lr"] == 2e-5
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


@pytest.mark.slow
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


def test_recommend_counts_a_repeated_search_once_and_says_which_it_kept(tmp_path: Path) -> None:
    """The same seed-0 search of the same ranks stored three times (a re-run, a warm-started copy)
    draws the same α*: it is one piece of evidence, not three. Another seed is another search."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16], name="first", values=(0.9, 0.6))
    _store_law(url, 256.0, [4, 8, 16], name="again", values=(0.9, 0.6, 0.55))  # more trials: it stands
    _store_law(url, 256.0, [4, 8, 16], name="copy", values=(0.9, 0.6))
    _store_law(url, 200.0, [4, 8, 16], name="seed1", seed=1)
    code, out, err = run_cli("recommend", "--storage", url, "--rank", "32", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert sorted((s["experiment"], s["rank"]) for s in rec["sources"]) == [
        ("again", 4),
        ("again", 8),
        ("again", 16),
        ("seed1", 4),
        ("seed1", 8),
        ("seed1", 16),
    ]
    left = {(e["experiment"], e["rank"]): e for e in rec["excluded"]}
    assert set(left) == {(x, r) for x in ("first", "copy") for r in (4, 8, 16)}
    assert all(e["reason"] == "repeated" for e in left.values())
    assert left[("first", 8)]["detail"] == (
        "repeats study again/lora_alpha/r8 of experiment again (same task, model, rank, seed, space and "
        "searched ranges): counted once"
    )
    assert rec["law"]["n"] == 6 and rec["law"]["df"] == 4
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "32")
    assert "used (6):" in out and "left out (6):" in out and "first/lora_alpha/r4" in out
    assert "repeated: repeats study again/lora_alpha/r4 of experiment again" in out and "law from 6 studies" in out


def test_recommend_pools_one_scaling_only(tmp_path: Path) -> None:
    """rsLoRA's α* (s = α/√r) and PEFT's default (s = α/r) are different numbers for the same
    update: by default only α/r studies are pooled; --rslora pools the rsLoRA ones only."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16], name="plain")
    _store_law(url, 16.0, [4, 8, 16], name="rs", rslora=True)
    rec = json.loads(run_cli("recommend", "--storage", url, "--rank", "32", "--json")[1])
    assert rec["scaling"] == "s = alpha/r" and {s["experiment"] for s in rec["sources"]} == {"plain"}
    assert rec["law"]["c"] == pytest.approx(256.0) and rec["law"]["p"] == pytest.approx(0.5)
    assert {(e["experiment"], e["reason"]) for e in rec["excluded"]} == {("rs", "other_scaling")}
    assert rec["excluded"][0]["detail"].startswith("searched with rsLoRA s = alpha/sqrt(r); the recommendation is for")
    rec = json.loads(run_cli("recommend", "--storage", url, "--rank", "32", "--rslora", "--json")[1])
    assert rec["use_rslora"] is True and {s["experiment"] for s in rec["sources"]} == {"rs"}
    assert rec["law"]["c"] == pytest.approx(16.0) and rec["alpha"] == pytest.approx(16.0 * math.sqrt(32))
    assert {e["experiment"] for e in rec["excluded"]} == {"plain"}
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "32")
    assert code == 0
    assert out.count("other scaling: searched with rsLoRA") == 3 and "(run with --rslora for it)" in out
    out = run_cli("recommend", "--storage", url, "--rank", "32", "--rslora")[1]
    assert out.count("other scaling: searched with s = alpha/r;") == 3 and "(run without --rslora for it)" in out


def test_recommend_leaves_out_studies_that_learned_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16], name="good")
    _store_law(url, 30.0, [32], name="chance", values=(0.47, 0.45))  # below chance: its α* is noise
    rec = json.loads(run_cli("recommend", "--storage", url, "--rank", "32", "--json")[1])
    assert {s["experiment"] for s in rec["sources"]} == {"good"} and rec["law"]["p"] == pytest.approx(0.5)
    (left,) = rec["excluded"]
    assert left["experiment"] == "chance" and left["reason"] == "learned_nothing" and left["learned"] is False
    assert left["detail"].startswith(
        "best accuracy 0.47 (60/128) is not above the eval set's majority-class rate 0.5234, what always predicting "
        "one class scores: one-sided binomial p = "
    )
    assert all(s["learned"] is True for s in rec["sources"])
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "32")
    assert code == 0 and "left out (1):" in out and "chance/lora_alpha/r32" in out
    assert "learned nothing: best accuracy 0.47 (60/128) is not above the eval set's majority-class rate" in out


def test_recommend_from_studies_that_all_learned_nothing_recommends_nothing(tmp_path: Path) -> None:
    """The issue's case: rank-law at 4, 8, 16 with 2 trials where every trial stayed below chance."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 8, 16], values=(0.48, 0.4))
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "32")
    assert code == 0 and "not enough data: no stored study is left to pool (3 left out)" in out
    assert out.count("learned nothing") == 3 and "law from" not in out and "p = 0.5" not in out


def test_recommend_from_two_ranks_gives_a_point_estimate_without_an_interval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _store_law(url, 256.0, [4, 16])
    rec = json.loads(run_cli("recommend", "--storage", url, "--rank", "8", "--json")[1])
    assert rec["alpha"] == pytest.approx(256.0 * math.sqrt(8)) and rec["alpha_ci"] is None
    assert rec["law"]["p_ci"] is None and rec["reason"] == "2 studies give a point estimate, no interval"
    code, out, _ = run_cli("recommend", "--storage", url, "--rank", "8")
    assert code == 0 and "rank 8: alpha = 724.1 (point estimate, no interval)" in out
