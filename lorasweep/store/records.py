"""What the store hands out: plain frozen records, never ORM rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lorasweep.metrics import Direction
from lorasweep.scaling import LoraParams
from lorasweep.store.schema import ExperimentStatus, TrialKind, TrialState


@dataclass(frozen=True, kw_only=True)
class ExperimentRecord:
    id: int
    name: str
    description: str
    config: dict[str, Any]
    status: ExperimentStatus
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class StudyRecord:
    id: int
    experiment_id: int
    space: str
    rank: int
    optuna_study_name: str
    metric: str
    direction: Direction
    space_config: dict[str, Any]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    #: which repeated search of (space, rank) this study is (``compare --repeats``; 0: the first)
    repeat: int = 0

    @property
    def wall_seconds(self) -> float:
        """Wall time of the study's search, orchestration included (0 while it runs)."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0.0


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    id: int
    study_id: int
    ray_trial_id: str
    optuna_number: int | None
    state: TrialState
    kind: TrialKind
    params: dict[str, Any]
    seed: int
    r: int
    alpha: float
    c: float
    lr: float
    scaling: float
    effective_step: float
    use_rslora: bool
    final_value: float | None
    best_value: float | None
    steps: int
    diverged_step: int | None
    error: str | None
    retries: int
    checkpoint: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    device_seconds: float
    wall_seconds: float
    examples: int
    tokens: int
    device: str | None = None  # what it trained on, e.g. "cuda:0 (GPU 1, 0.25 share)" (None: not reported)
    # the metric, and every metric, on the test split at its end (seed re-runs and ablation points,
    # judged on examples the search never selected on; None: not evaluated)
    test_value: float | None = None
    test_metrics: dict[str, float] | None = None


@dataclass(frozen=True, kw_only=True)
class ReportRecord:
    trial_id: int
    step: int
    value: float | None
    train_loss: float | None
    lr: float | None
    examples: int
    tokens: int
    device_seconds: float
    metrics: dict[str, Any]
    signal: float | None = None
    drift: float | None = None
    drift_ratio: float | None = None


@dataclass(frozen=True, kw_only=True)
class TrialCurve:
    """One trial's evaluations as columns, in step order: what the reports draw and average.

    The light read of a trial's reports (:meth:`Storage.curves`); the full rows, metrics
    included, come from :meth:`Storage.reports`. Values and drift ratios are None where the
    report had none (a non-finite value, or no diagnostics)."""

    trial_id: int
    steps: tuple[int, ...]
    values: tuple[float | None, ...]
    drift_ratios: tuple[float | None, ...]


@dataclass(frozen=True, kw_only=True)
class TrialStart:
    """What is known when a trial starts."""

    study_id: int
    ray_trial_id: str
    optuna_number: int | None
    params: dict[str, Any]
    lora: LoraParams  # the trial's LoRA setting (rank, α, LR) and the numbers derived from it
    seed: int
    kind: TrialKind = TrialKind.SEARCH


@dataclass(frozen=True, kw_only=True)
class TrialFinish:
    """What is known when a trial ends, with the reports it made."""

    state: TrialState
    final_value: float | None
    best_value: float | None
    steps: int
    diverged_step: int | None
    error: str | None
    device_seconds: float
    wall_seconds: float
    examples: int
    tokens: int
    reports: tuple[ReportRecord, ...]
    retries: int = 0  # times Ray re-ran the trial after its worker died (ray.max_failures)
    checkpoint: str | None = None  # where its best adapter is kept (ray.checkpoints)
    device: str | None = None  # the device it trained on and its GPUs (lorasweep.train.device)
    test_value: float | None = None  # the metric on the test split at its end (None: not evaluated)
    test_metrics: dict[str, float] | None = None  # every metric on the test split
