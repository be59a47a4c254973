"""lorasweep's tables (SQLAlchemy 2, typed). They share the database with Optuna's own tables,
so every name carries the ``lorasweep_`` prefix and Alembic keeps its own version table.

ORM rows never leave :mod:`lorasweep.store`; callers get the frozen records of
:mod:`lorasweep.store.records`.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lorasweep.metrics import Direction


class ExperimentStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class TrialState(enum.StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"  # stopped early by the scheduler (ASHA)
    FAILED = "failed"  # raised; error holds the message
    DIVERGED = "diverged"  # loss NaN/inf or exploded; diverged_step says when
    #: cut short by a stop (SIGINT/SIGTERM, ``ray job stop``) or a crash of the search process, not by
    #: itself: error says why; ``compare --resume`` runs its budget again (Optuna: FAIL)
    INTERRUPTED = "interrupted"


class TrialKind(enum.StrEnum):
    SEARCH = "search"  # sampled by the study's search
    SEEDS = "seeds"  # a top search config re-run on another seed (compare --seeds)
    ABLATION = "ablation"  # a point of the matched-step ablation (lorasweep ablation)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class Experiment(Base):
    __tablename__ = "lorasweep_experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[ExperimentStatus] = mapped_column(_enum(ExperimentStatus, "lorasweep_experiment_status"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    studies: Mapped[list[Study]] = relationship(back_populates="experiment", cascade="all, delete-orphan")


class Study(Base):
    __tablename__ = "lorasweep_studies"
    __table_args__ = (UniqueConstraint("experiment_id", "space", "rank", "repeat", name="uq_lorasweep_study"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("lorasweep_experiments.id", ondelete="CASCADE"))
    space: Mapped[str] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer)
    #: which of the repeated searches of this (space, rank) it is (``compare --repeats``; 0: the first)
    repeat: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    optuna_study_name: Mapped[str] = mapped_column(String(255), unique=True)
    metric: Mapped[str] = mapped_column(String(64))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "lorasweep_direction"))
    space_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    experiment: Mapped[Experiment] = relationship(back_populates="studies")
    trials: Mapped[list[Trial]] = relationship(back_populates="study", cascade="all, delete-orphan")


class Trial(Base):
    __tablename__ = "lorasweep_trials"
    __table_args__ = (UniqueConstraint("study_id", "ray_trial_id", name="uq_lorasweep_trial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("lorasweep_studies.id", ondelete="CASCADE"), index=True)
    ray_trial_id: Mapped[str] = mapped_column(String(64))
    optuna_number: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[TrialState] = mapped_column(_enum(TrialState, "lorasweep_trial_state"))
    kind: Mapped[TrialKind] = mapped_column(
        _enum(TrialKind, "lorasweep_trial_kind"), default=TrialKind.SEARCH, server_default=TrialKind.SEARCH.value
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # what the sampler chose (lr / c / alpha)
    seed: Mapped[int] = mapped_column(Integer)
    r: Mapped[int] = mapped_column(Integer)
    alpha: Mapped[float] = mapped_column(Float)
    c: Mapped[float] = mapped_column(Float)  # alpha / sqrt(r)
    lr: Mapped[float] = mapped_column(Float)
    scaling: Mapped[float] = mapped_column(Float)  # alpha/r, or alpha/sqrt(r) with rsLoRA
    effective_step: Mapped[float] = mapped_column(Float)  # scaling * lr
    use_rslora: Mapped[bool]
    final_value: Mapped[float | None] = mapped_column(Float)
    best_value: Mapped[float | None] = mapped_column(Float)
    # the experiment's metric, and every metric, on the test split at the trial's end (seed re-runs
    # and ablation points; None: not evaluated, e.g. a search trial)
    test_value: Mapped[float | None] = mapped_column(Float)
    test_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    diverged_step: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # re-runs after a worker died
    checkpoint: Mapped[str | None] = mapped_column(Text)  # path/URI of the trial's best adapter (Ray checkpoint)
    # the device it trained on and the GPUs Ray assigned it, e.g. "cuda:0 (GPU 1, 0.25 share)"
    device: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    device_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)

    study: Mapped[Study] = relationship(back_populates="trials")
    reports: Mapped[list[Report]] = relationship(back_populates="trial", cascade="all, delete-orphan")


class Report(Base):
    __tablename__ = "lorasweep_reports"
    __table_args__ = (Index("ix_lorasweep_reports_trial_step", "trial_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("lorasweep_trials.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)  # the experiment's target metric
    train_loss: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    examples: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    device_seconds: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # every metric of the evaluation
    # mean over the steps measured since the previous report (see lorasweep.train.diagnostics)
    signal: Mapped[float | None] = mapped_column(Float)
    drift: Mapped[float | None] = mapped_column(Float)
    drift_ratio: Mapped[float | None] = mapped_column(Float)

    trial: Mapped[Trial] = relationship(back_populates="reports")


class DataFingerprint(Base):
    """The sha256 of the task's local data files' bytes when the experiment was created (no row:
    generated or hub data, or an experiment made before schema 0010); ``compare --resume/--seeds``
    refuse data that changed since (:mod:`lorasweep.train.datafiles`)."""

    __tablename__ = "lorasweep_data_fingerprints"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("lorasweep_experiments.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(80))
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"files": [paths as read]}


class DriverLease(Base):
    """The driver running an experiment (one at a time): taken when ``compare`` starts or resumes,
    renewed by a heartbeat, deleted at its end; a lease past ``expires_at`` (or whose process is
    gone, on the same host) may be taken over (see :mod:`lorasweep.store.lease`). Keyed by the
    experiment's name: a new experiment's driver holds it before the experiment's row exists."""

    __tablename__ = "lorasweep_driver_leases"

    experiment: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))  # a random id per driver
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
