"""What reports read of large experiments: light curves, per-step drift sums done by the database,
and a sample of learning curves when a space has too many to draw (see benchmarks/report_scale.py)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

from lorasweep.analysis.curves import thin
from lorasweep.analysis.summary import MAX_CURVES, curve_trials, summarize
from lorasweep.config import Direction, load_experiment
from lorasweep.report.html import write_html
from lorasweep.report.json_report import to_json
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialKind, TrialStart, TrialState

from factories import lora_params

TINY = Path(__file__).parent / "data" / "tiny.yaml"
LORA = lora_params()


def _trial(st: Storage, study: int, key: str, values: list, ratios: list, kind: TrialKind = TrialKind.SEARCH) -> int:
    trial = st.start_trial(
        TrialStart(
            study_id=study, ray_trial_id=key, optuna_number=None, params={"lr": 1e-3}, lora=LORA, seed=0, kind=kind
        )
    )
    reports = tuple(
        ReportRecord(
            trial_id=trial,
            step=10 * (i + 1),
            value=v,
            train_loss=0.5,
            lr=1e-3,
            examples=16,
            tokens=160,
            device_seconds=1.0,
            metrics={"accuracy": v},
            signal=None,
            drift=None,
            drift_ratio=r,
        )
        for i, (v, r) in enumerate(zip(values, ratios, strict=True))
    )
    done = [v for v in values if v is not None]
    steps = 10 * len(values)
    end = TrialFinish(
        state=TrialState.COMPLETE,
        final_value=done[-1],
        best_value=max(done),
        steps=steps,
        diverged_step=None,
        error=None,
        device_seconds=1.0,
        wall_seconds=1.0,
        examples=16,
        tokens=160,
        reports=reports,
    )
    st.finish_trial(trial, end)
    return trial


def test_curves_and_drift_sums_agree_with_the_full_reports(db_url: str, tmp_path: Path) -> None:
    exp = load_experiment(TINY)
    with Storage.open(db_url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("e", "", exp.model_dump(mode="json"))
        a = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="e/lr_only/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        b = st.add_study(
            record.id,
            space="lora_alpha",
            rank=4,
            optuna_study_name="e/lora_alpha/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        ids = [
            _trial(st, a, "a1", [0.5, 0.6, 0.7], [0.1, None, 0.3]),
            _trial(st, a, "a2", [0.55, None, 0.65], [0.2, 0.4, None]),
            _trial(st, b, "b1", [0.6, 0.8], [0.01, 0.02]),
        ]
        _trial(st, b, "seed", [0.9, 0.9], [5.0, 5.0], kind=TrialKind.SEEDS)  # not part of the search's drift
        other = st.create_experiment("other", "", exp.model_dump(mode="json"))
        c = st.add_study(
            other.id,
            space="lr_only",
            rank=4,
            optuna_study_name="other/lr_only/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        _trial(st, c, "c1", [0.1], [9.0])

        full = st.reports(record.id)
        curves = st.curves(record.id)
        assert set(curves) == {r.trial_id for r in full}
        for tid, curve in curves.items():
            rows = [r for r in full if r.trial_id == tid]
            assert curve.steps == tuple(r.step for r in rows)
            assert curve.values == tuple(r.value for r in rows)
            assert curve.drift_ratios == tuple(r.drift_ratio for r in rows)
        assert set(st.curves(record.id, [ids[0], ids[2]])) == {ids[0], ids[2]}

        totals = {(s, step): (t, n) for s, step, t, n in st.drift_totals(record.id)}
        assert totals.keys() == {(a, 10), (a, 20), (a, 30), (b, 10), (b, 20)}
        assert math.isclose(totals[a, 10][0], 0.3) and totals[a, 10][1] == 2
        assert totals[a, 20] == (0.4, 1) and totals[a, 30] == (0.3, 1)

        summary = summarize(st, record)
        assert summary.drift["lr_only"] == [(10, 0.15000000000000002), (20, 0.4), (30, 0.3)]
        assert summary.drift["lora_alpha"] == [(10, 0.01), (20, 0.02)]
        assert to_json(summary)["drift_ratio"]["lr_only"][0] == [10, 0.15000000000000002]
        assert {t.id for s in summary.spaces.values() for t in s.drawn} == set(ids)  # few trials: all drawn
        write_html(summary, tmp_path / "r.html")
        assert "trials drawn" not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_large_space_draws_its_best_curves_and_an_even_sample() -> None:
    trials = [SimpleNamespace(id=i, best_value=(i * 37 % 1000) / 1000) for i in range(1000)]
    drawn = curve_trials(trials, Direction.MAXIMIZE)  # type: ignore[arg-type]
    assert len(drawn) == MAX_CURVES
    assert [t.id for t in drawn] == sorted(t.id for t in drawn)  # in trial order
    best = sorted(trials, key=lambda t: t.best_value, reverse=True)[: MAX_CURVES // 4]
    assert {t.id for t in best} <= {t.id for t in drawn}
    assert min(t.id for t in drawn) < 50 and max(t.id for t in drawn) > 950  # the sample spans the run
    lowest = curve_trials(trials, Direction.MINIMIZE)  # type: ignore[arg-type]
    assert min(trials, key=lambda t: t.best_value) in lowest
    assert curve_trials(trials[:10], Direction.MAXIMIZE) == trials[:10]  # type: ignore[arg-type]


def test_long_curves_are_thinned_evenly_keeping_both_ends() -> None:
    assert list(thin(50)) == list(range(50))
    kept = thin(1000)
    assert len(kept) == 100 and kept[0] == 0 and kept[-1] == 999
    gaps = {b - a for a, b in itertools.pairwise(kept)}
    assert gaps <= {10, 11}
