"""Search cost per space (issue 21, step 6), through ``summarize`` and the cost section on a real
SQLite store with crafted trial times: wall time from each space's own trials, running trials
charged their elapsed time, a target no single search sets, "not reached" censored at the budget,
and the LoRA+ B matrices' s·LR coverage flagged."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from lorasweep.analysis.coverage import coverage_warnings, coverages
from lorasweep.analysis.summary import space_wall_seconds, summarize
from lorasweep.analysis.target import NO_TARGET, cost_target
from lorasweep.config import Direction, load_experiment
from lorasweep.cost import TimedRun, busy_seconds, cost_to_target_timed, target_value
from lorasweep.report.sections import Report
from lorasweep.report.sections.cost import CostSection
from lorasweep.store import Storage, TrialFinish, TrialKind, TrialStart, TrialState

from conftest import TINY
from factories import config, lora_params, summary, trial

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

#: (space, rank, start s, end s or None while running, state, value): one shared 60 s Tune run
TRIALS = [
    ("lr_only", 4, 0, 20, TrialState.COMPLETE, 0.85),
    ("lr_only", 4, 30, 40, TrialState.COMPLETE, 0.92),
    ("lr_only", 8, 10, 25, TrialState.PRUNED, 0.80),
    ("lora_alpha", 4, 20, 50, TrialState.COMPLETE, 0.88),
    ("lora_alpha", 8, 45, 60, TrialState.COMPLETE, 0.89),
    ("lora_alpha", 8, 50, None, TrialState.RUNNING, None),
]


def _store(url: str, overrides: dict) -> None:
    exp = load_experiment(TINY, {"ranks": [4, 8], **overrides})
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("cost", "", exp.model_dump(mode="json"))
        studies = {}
        for space in exp.spaces:
            for r in exp.ranks:
                studies[(space.name, r)] = st.add_study(
                    record.id,
                    space=space.name,
                    rank=r,
                    optuna_study_name=f"cost/{space.name}/r{r}",
                    metric="accuracy",
                    direction=Direction.MAXIMIZE,
                    space_config={},
                )
        times = {}
        for i, (space, r, start, end, state, value) in enumerate(TRIALS):
            tid = st.start_trial(
                TrialStart(
                    study_id=studies[(space, r)].id,
                    ray_trial_id=f"t{i}",
                    optuna_number=i,
                    params={},
                    lora=lora_params(rank=r),
                    seed=0,
                )
            )
            times[tid] = (start, end)
            if end is None:
                continue
            st.finish_trial(
                tid,
                TrialFinish(
                    state=state,
                    final_value=value,
                    best_value=value,
                    steps=20,
                    diverged_step=None,
                    error=None,
                    device_seconds=float(end - start),
                    wall_seconds=float(end - start),
                    examples=0,
                    tokens=0,
                    reports=(),
                ),
            )
    engine = sa.create_engine(url)  # the store stamps times with the clock: set the crafted ones
    with engine.begin() as con:
        for tid, (start, end) in times.items():
            finished = T0 + dt.timedelta(seconds=end) if end is not None else None
            con.execute(
                sa.text("UPDATE lorasweep_trials SET started_at = :s, finished_at = :f WHERE id = :id"),
                {"s": T0 + dt.timedelta(seconds=start), "f": finished, "id": tid},
            )
        # every study spans the whole shared run (what the old per-space wall time added up)
        con.execute(
            sa.text("UPDATE lorasweep_studies SET started_at = :s, finished_at = :f"),
            {"s": T0, "f": T0 + dt.timedelta(seconds=60)},
        )
    engine.dispose()


def _summary(tmp_path: Path, overrides: dict | None = None):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _store(url, overrides or {})
    with Storage.open(url) as st:
        return summarize(st, st.experiment("cost"), now=T0 + dt.timedelta(seconds=60))


def test_wall_time_per_space_is_its_own_trials_not_the_shared_run_times_its_ranks(tmp_path: Path) -> None:
    """Two spaces × two ranks in one 60 s run: the old figure summed each space's study spans
    (60 s × 2 ranks = 120 s each); now the time one of its own trials ran."""
    s = _summary(tmp_path, {"target.value": 0.9})
    assert s.spaces["lr_only"].wall_seconds == pytest.approx(25 + 10)  # (0, 25) ∪ (30, 40)
    assert s.spaces["lora_alpha"].wall_seconds == pytest.approx(40)  # (20, 60), its running trial included
    for space in s.spaces.values():
        assert space.wall_seconds <= 60


def test_running_trials_are_charged_their_elapsed_time(tmp_path: Path) -> None:
    s = _summary(tmp_path, {"target.value": 0.9})
    running = [t for t in s.spaces["lora_alpha"].trials if t.state == TrialState.RUNNING]
    assert len(running) == 1 and running[0].device_seconds == pytest.approx(10.0)  # started at 50, now 60
    assert s.spaces["lora_alpha"].device_seconds == pytest.approx(30 + 15 + 10)
    assert s.spaces["lr_only"].device_seconds == pytest.approx(20 + 10 + 15)
    rows = {r.label: r.cells for r in CostSection().rows(s, s)}
    assert "Device-seconds (search; running trials at their elapsed time)" in rows


def test_cost_to_a_user_target_with_not_reached_censored_and_said_so(tmp_path: Path) -> None:
    s = _summary(tmp_path, {"target.value": 0.9})
    assert s.target == 0.9 and s.target_source == "target.value in the experiment"
    assert s.spaces["lr_only"].cost_to_target == pytest.approx(45.0)  # at t = 40: 20 + 15 + 10
    assert s.spaces["lora_alpha"].cost_to_target is None
    text = " ".join(CostSection().text(s, s))
    assert "lr_only 45" in text and "lora_alpha not reached yet: > 55" in text
    doc = Report.build(s).json()
    assert doc["target"] == {"within": 0.01, "value": 0.9, "source": "target.value in the experiment"}
    assert doc["spaces"]["lora_alpha"]["cost_to_target_censored_at"] == pytest.approx(55.0)
    assert doc["spaces"]["lr_only"]["cost_to_target_censored_at"] is None


def test_without_a_target_source_no_cost_to_target_is_made_up(tmp_path: Path) -> None:
    s = _summary(tmp_path)
    assert s.target is None and s.target_source == NO_TARGET
    assert all(space.cost_to_target is None and not space.reached_target for space in s.spaces.values())
    rows = {r.label: r.cells for r in CostSection().rows(s, s)}
    assert not [label for label in rows if "to target" in label]  # no row of "no target" cells
    assert CostSection().text(s, s) == [f"Cost to a target: no target ({NO_TARGET})."]


def test_the_target_comes_from_the_seed_reruns_when_there_are_some() -> None:
    cfg = config()
    reruns = {
        "lr_only": [trial(9, 4, 8.0, 1e-3, v) for v in (0.84, 0.86, 0.88)],
        "lora_alpha": [trial(9, 4, 8.0, 1e-3, v) for v in (0.83, 0.85)]
        + [trial(9, 4, 8.0, 1e-3, None, state=TrialState.DIVERGED)],
    }
    reruns = {k: [dataclasses.replace(t, kind=TrialKind.SEEDS) for t in ts] for k, ts in reruns.items()}
    goal = cost_target(cfg, Direction.MAXIMIZE, reruns, {})
    assert goal.value == pytest.approx(0.84)  # the diverged re-run counts as the worst
    assert "median value of the 6 seed re-runs" in goal.source


def test_two_equal_spaces_rarely_read_not_reached() -> None:
    """Two spaces with the same distribution of trial values, 8 trials each. Against 1 % of the
    leader's single-seed best the runner-up read "not reached" in ~60 % of searches (25–44 % in the
    issue); against the median of 3 re-runs per space of each space's best config it is rare."""
    rng = np.random.default_rng(21)
    old = new = 0
    runs = 500
    for _ in range(runs):
        a, b = rng.normal(0.85, 0.02, 8), rng.normal(0.85, 0.02, 8)
        leader_best = max(a.max(), b.max())
        runner = b if a.max() >= b.max() else a
        timed = [TimedRun(value=float(x), device_seconds=1.0, started=k, finished=k + 1) for k, x in enumerate(runner)]
        old += (
            cost_to_target_timed(timed, target_value(leader_best, 0.01, Direction.MAXIMIZE), Direction.MAXIMIZE) is None
        )
        reruns = {
            "a": [trial(9, 4, 8.0, 1e-3, float(v)) for v in rng.normal(0.85, 0.02, 3)],
            "b": [trial(9, 4, 8.0, 1e-3, float(v)) for v in rng.normal(0.85, 0.02, 3)],
        }
        goal = cost_target(config(), Direction.MAXIMIZE, reruns, {})
        new += cost_to_target_timed(timed, goal.value, Direction.MAXIMIZE) is None
    assert old / runs > 0.25 and new / runs < 0.10


def test_busy_seconds_counts_overlaps_once_and_gaps_not_at_all() -> None:
    assert busy_seconds([(0, 10), (5, 15), (20, 30), (25, 26)]) == 25
    assert busy_seconds([]) == 0 and busy_seconds([(3, 3)]) == 0
    t = trial(1, 4, 8.0, 1e-3, None, state=TrialState.RUNNING)
    t = dataclasses.replace(t, started_at=T0, finished_at=None)
    assert space_wall_seconds([t], T0 + dt.timedelta(seconds=7)) == pytest.approx(7)


def test_loraplus_reports_the_s_lr_its_b_matrices_cover_and_flags_unequal_coverage() -> None:
    """loraplus searches s·LR 2e-6..2e-2 for its A matrices, but its B matrices train at up to 64 ×
    that: the coverage shows it, and the report warns that the spaces' coverage differs."""
    cfg = config({"spaces": ["lr_only", "loraplus"]})
    s = summary(cfg, {"lr_only": [trial(1, 4, 8.0, 1e-3, 0.9)], "loraplus": [trial(2, 4, 8.0, 1e-3, 0.9)]})
    cov = coverages(s)
    lo, hi = cov["loraplus"].ranges[4]
    b_lo, b_hi = cov["loraplus"].b_ranges[4]
    assert b_lo == pytest.approx(lo) and b_hi == pytest.approx(64 * hi)
    assert cov["lr_only"].b_ranges == {}
    codes = [w for w in coverage_warnings(s) if w["code"] == "loraplus_coverage"]
    assert len(codes) == 1 and "B matrices" in codes[0]["message"] and "2.0e-6–1.3e0" in codes[0]["message"]
    doc = Report.build(s).json()
    assert doc["spaces"]["loraplus"]["coverage_b"]["4"][1] == pytest.approx(64 * hi)
    assert any(w["code"] == "loraplus_coverage" for w in doc["warnings"])
    same = summary(config({"spaces": ["lr_only", "lora_alpha"]}), {"lr_only": [], "lora_alpha": []})
    assert not [w for w in coverage_warnings(same) if w["code"] == "loraplus_coverage"]
