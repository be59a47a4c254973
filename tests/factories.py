"""Plain records for tests that need trials and summaries without running anything (no Ray, no
training): the analysis and report code reads only these frozen dataclasses."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary, best_trial
from lorasweep.config import ExperimentConfig, load_experiment
from lorasweep.scaling import LoraParams
from lorasweep.store import ExperimentRecord, ExperimentStatus, TrialCurve, TrialKind, TrialRecord, TrialState

from conftest import TINY

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
_ids = itertools.count(1)


def lora_params(*, rank: int = 4, alpha: float = 8.0, lr: float = 1e-3, use_rslora: bool = False) -> LoraParams:
    """The LoRA setting a stored test trial starts with (r=4, α=8, LR=1e-3 unless given), its
    derived numbers (c, s, s·LR) computed as a trial computes them."""
    return LoraParams(rank=rank, alpha=alpha, lr=lr, use_rslora=use_rslora)


def trial(
    study_id: int,
    r: int,
    alpha: float,
    lr: float,
    value: float | None,
    *,
    state: TrialState = TrialState.COMPLETE,
    steps: int = 20,
    use_rslora: bool = False,
    number: int | None = None,
) -> TrialRecord:
    """A finished search trial whose LoRA numbers are derived as the trial would derive them."""
    lora = LoraParams(rank=r, alpha=alpha, lr=lr, use_rslora=use_rslora)
    tid = next(_ids)
    return TrialRecord(
        id=tid,
        study_id=study_id,
        ray_trial_id=f"t{tid}",
        optuna_number=number,
        state=state,
        kind=TrialKind.SEARCH,
        params={},
        seed=0,
        r=r,
        alpha=alpha,
        c=lora.c,
        lr=lr,
        scaling=lora.scaling,
        effective_step=lora.effective_step,
        use_rslora=use_rslora,
        final_value=value,
        best_value=value,
        steps=steps,
        diverged_step=None,
        error=None,
        retries=0,
        checkpoint=None,
        started_at=NOW,
        finished_at=NOW,
        device_seconds=1.0,
        wall_seconds=1.0,
        examples=0,
        tokens=0,
    )


def curve(t: TrialRecord, steps: list[int], values: list[float | None]) -> TrialCurve:
    return TrialCurve(trial_id=t.id, steps=tuple(steps), values=tuple(values), drift_ratios=tuple(None for _ in steps))


def config(overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """The tiny test experiment (tests/data/tiny.yaml: 2 labels, 128 eval examples) with overrides."""
    return load_experiment(TINY, overrides or {})


def summary(
    cfg: ExperimentConfig,
    trials: dict[str, list[TrialRecord]],
    curves: dict[int, TrialCurve] | None = None,
) -> ExperimentSummary:
    """An ExperimentSummary of ``trials`` per space, as ``summarize`` would build it from a store."""
    direction = cfg.metric.resolved_direction
    spaces = {}
    for name, ts in trials.items():
        best = best_trial(ts, direction)
        spaces[name] = SpaceSummary(
            name=name,
            best_value=best.final_value if best else None,
            best_params={},
            reached_target=False,
            n_trials=len(ts),
            counts={s: sum(t.state == s for t in ts) for s in TrialState},
            device_seconds=float(len(ts)),
            wall_seconds=float(len(ts)),
            cost_to_target=None,
            optuna_studies=[f"x/{name}/r{r}" for r in sorted({t.r for t in ts})],
            trials=ts,
            best_so_far=[],
            drawn=ts,
        )
    record = ExperimentRecord(
        id=1,
        name="x",
        description="",
        config=cfg.model_dump(mode="json"),
        status=ExperimentStatus.COMPLETE,
        created_at=NOW,
        finished_at=NOW,
    )
    return ExperimentSummary(
        experiment=record,
        metric=cfg.metric.name,
        direction=direction,
        within=cfg.target.within,
        target=None,
        spaces=spaces,
        curves=curves or {},
        config=cfg,
    )
