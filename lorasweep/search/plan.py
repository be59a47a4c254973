"""What a run of ``compare`` (or ``ablation``) is made of, as plain data the runner and the Ray
adapter (:mod:`lorasweep.search.ray_adapter`) share:

- :class:`StudyPlan`: one (space, rank) study, or its seed re-runs, or an ablation arm;
- :class:`StudyRun`: a study's part of one Tune run (its row, how many trials, what to evaluate);
- :class:`Progress`: what the run tells whoever shows progress;
- :class:`StopRequest`: a stop asked for by a signal (SIGINT, SIGTERM), which the Tune loop obeys;
- :class:`RunContext`: the settings every step of one run shares.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import optuna

from lorasweep.config import Direction, ExperimentConfig, SpaceConfig
from lorasweep.store import ExperimentRecord, Storage, TrialKind, TrialState


def optuna_study_name(experiment: str, space: str, rank: int, repeat: int = 0) -> str:
    """One Optuna study per (experiment, space, rank, repeat); experiment names are unique in a
    database. The first repeat keeps the name a single search has (``EXP/SPACE/rR``), so repeats
    added to an experiment (``compare --resume --repeats K``) leave its first study as it was."""
    name = f"{experiment}/{space}/r{rank}"
    return f"{name}/repeat{repeat}" if repeat else name


@dataclass(frozen=True)
class StudyPlan:
    space: SpaceConfig
    rank: int
    study_name: str
    kind: TrialKind = TrialKind.SEARCH
    #: which repeated search of (space, rank) this is (``compare --repeats``; 0: the first)
    repeat: int = 0

    @property
    def label(self) -> str:
        suffix = {TrialKind.SEEDS: " seeds", TrialKind.ABLATION: " ×k"}.get(self.kind, "")
        repeat = f" #{self.repeat}" if self.repeat else ""
        return f"{self.space.name} r={self.rank}{repeat}{suffix}"

    @property
    def ends_study(self) -> bool:
        """Whether the end of this plan's trials is its study's end (a search or an ablation arm);
        seed re-runs are added to a study that has ended, whose end (and wall time) they keep."""
        return self.kind != TrialKind.SEEDS


@dataclass(frozen=True)
class StudyRun:
    """One study's part of a Tune run.

    ``trials`` is how many trials this run starts for it; ``done`` how many of its trials finished
    in an earlier run (``compare --resume``), which interleaving counts. A search study has its
    sampler's seed and the points its sampler evaluates first (``warm_start``); a study of fixed
    points (seed re-runs, an ablation arm) has its ``points``, one per trial."""

    plan: StudyPlan
    study_id: int
    trials: int
    done: int = 0
    sampler_seed: int | None = None
    warm_points: tuple[dict[str, Any], ...] = ()
    points: tuple[dict[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The study's name in a Tune run: what each trial's config says it belongs to."""
        return self.plan.study_name


class Progress:
    """What the search tells whoever shows progress (the CLI draws bars from it)."""

    def study_started(self, plan: StudyPlan, total: int) -> None: ...
    def trial_done(self, plan: StudyPlan, state: TrialState, value: float | None) -> None: ...
    def study_done(self, plan: StudyPlan) -> None: ...


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by signal ``signum``: a stop, as Ctrl-C is. Not an Exception, so that no
    ``except Exception`` on its way out (Tune's loop, lorasweep's retries) takes it for an error."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    """A stop of the whole run, asked for by a signal handler and obeyed by the Tune loop at its
    next step (:meth:`check`): running trials are then recorded as interrupted and no trial starts.

    ``at`` is when the stop was asked for: where the interrupted trials' time ends. ``closing``
    is set while the stop is being recorded, when further signals are ignored."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self.at: dt.datetime | None = None
        self.closing = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, signum: int) -> None:
        if not self._event.is_set():
            self.signum, self.at = signum, dt.datetime.now(dt.UTC)
            self._event.set()

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a stop was asked for."""
        if self.signum is not None and self.requested:
            raise RunInterrupted(self.signum)


@dataclass(frozen=True)
class RunContext:
    """One run of an experiment: its config, where it is recorded, who watches it, and the Tune
    function each trial runs (benchmarks and tests swap in their own)."""

    exp: ExperimentConfig
    storage: Storage
    record: ExperimentRecord
    ot_storage: optuna.storages.RDBStorage
    trainable: Callable[..., None]
    progress: Progress = field(default_factory=Progress)
    verbose: bool = False
    stop: StopRequest = field(default_factory=StopRequest)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def metric(self) -> str:
        return self.exp.metric.name

    @property
    def direction(self) -> Direction:
        return self.exp.metric.resolved_direction

    @cached_property
    def experiment_json(self) -> str:
        return self.exp.model_dump_json()
