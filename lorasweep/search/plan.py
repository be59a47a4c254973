"""What a run of ``compare`` (or ``ablation``) is made of, as plain data the runner and the Ray
adapter (:mod:`lorasweep.search.ray_adapter`) share:

- :class:`RunPlan`: everything one run does, decided before it starts (built by
  :mod:`lorasweep.search.studies`, checked by :func:`lorasweep.search.runner.preflight`);
- :class:`StudyPlan`: one (space, rank) study, or its seed re-runs, or an ablation arm;
- :class:`StudyRun`: a study's part of one Tune run (its row, how many trials, what to evaluate);
- :class:`ProgressListener`: what the run tells whoever shows progress;
- :class:`~lorasweep.search.signals.StopRequest`: a stop asked for by a signal (SIGINT,
  SIGTERM), which the Tune loop obeys;
- :class:`RunContext`: the settings every step of one run shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import optuna

from lorasweep.config import Direction, ExperimentConfig, SeedsConfig, SpaceConfig, WarmStartConfig
from lorasweep.search.signals import RunInterrupted, StopRequest
from lorasweep.store import ExperimentRecord, Storage, TrialKind, TrialState

__all__ = [
    "Progress",
    "ProgressListener",
    "RunContext",
    "RunInterrupted",
    "RunPlan",
    "StopRequest",
    "StudyPlan",
    "StudyRun",
    "optuna_study_name",
]


def optuna_study_name(experiment: str, space: str, rank: int, repeat: int = 0) -> str:
    """One Optuna study per (experiment, space, rank, repeat); experiment names are unique in a
    database. The first repeat keeps the name a single search has (``EXP/SPACE/rR``), so repeats
    added to an experiment (``compare --resume --repeats K``) leave its first study as it was."""
    name = f"{experiment}/{space}/r{rank}"
    return f"{name}/repeat{repeat}" if repeat else name


@dataclass(frozen=True, kw_only=True)
class StudyPlan:
    """One study of a run, as decided before the run starts: the space as searched at ``rank``
    (matched ranges made explicit), the name of its Optuna study, and what its trials are.

    A search (``kind`` SEARCH) samples ``trials`` configurations with a sampler seeded with
    ``sampler_seed`` (a resumed study's seed moves past the trials it has). A study of fixed
    points (an ablation arm; seed re-runs, planned once the searches have finished) runs one
    trial per entry of ``points``: the sampled-parameter values and the seed."""

    space: SpaceConfig
    rank: int
    study_name: str
    kind: TrialKind = TrialKind.SEARCH
    trials: int = 0
    sampler_seed: int = 0
    points: tuple[dict[str, Any], ...] = ()
    #: which repeated search of (space, rank) this is (``compare --repeats``; 0: the first)
    repeat: int = 0

    @property
    def label(self) -> str:
        """How people see the study (progress bars, logs): ``SPACE r=RANK [#REPEAT] [seeds|×k]``."""
        suffix = {TrialKind.SEEDS: " seeds", TrialKind.ABLATION: " ×k"}.get(self.kind, "")
        repeat = f" #{self.repeat}" if self.repeat else ""
        return f"{self.space.name} r={self.rank}{repeat}{suffix}"

    @property
    def ends_study(self) -> bool:
        """Whether the end of this plan's trials is its study's end (a search or an ablation arm);
        seed re-runs are added to a study that has ended, whose end (and wall time) they keep."""
        return self.kind != TrialKind.SEEDS


@dataclass(frozen=True, kw_only=True)
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


class ProgressListener:
    """What the search tells whoever shows progress (the CLI's :class:`~lorasweep.cli.console.StudyBars`
    draws rich progress bars from it). Every hook is a no-op here: a listener overrides those it needs."""

    def study_started(self, plan: StudyPlan, total: int) -> None:
        """``plan``'s study starts ``total`` trials in this run."""

    def trial_done(self, plan: StudyPlan, state: TrialState, value: float | None) -> None:
        """A trial of ``plan``'s study ended in ``state`` with final metric ``value`` (None: none)."""

    def study_done(self, plan: StudyPlan) -> None:
        """``plan``'s study has run all its trials of this run."""


#: The listener's former name (rich's progress display is ``rich.progress.Progress``); kept so that
#: code written against it still imports. Use :class:`ProgressListener`.
Progress = ProgressListener


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """Everything one run of an experiment does, decided before it starts: the experiment and
    its name, its studies in order (searches, or an ablation's arms), whether it continues a
    stored experiment (``resume``: each study runs what its budget has left), the earlier
    experiment whose best configs each new search evaluates first (``warm_start``), and the seed
    re-runs of every search's best configs once the searches have finished (``seeds``).

    Built by :mod:`lorasweep.search.studies` (``compare_plan``, ``ablation_plan``,
    ``resume_plan``) and run by :func:`lorasweep.search.runner.run_plan`."""

    exp: ExperimentConfig
    name: str
    studies: tuple[StudyPlan, ...]
    resume: bool = False
    warm_start: WarmStartConfig | None = None
    seeds: SeedsConfig | None = None

    @property
    def ablation(self) -> bool:
        """Whether the run is an ablation (its studies are the arms' fixed points)."""
        return any(p.kind == TrialKind.ABLATION for p in self.studies)


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """One run of an experiment: its config, where it is recorded, who watches it, and the Tune
    function each trial runs (benchmarks and tests swap in their own)."""

    exp: ExperimentConfig
    storage: Storage
    record: ExperimentRecord
    ot_storage: optuna.storages.RDBStorage
    trainable: Callable[..., None]
    progress: ProgressListener = field(default_factory=ProgressListener)
    verbose: bool = False
    stop: StopRequest = field(default_factory=StopRequest)

    @property
    def name(self) -> str:
        """The experiment's name (unique in its database)."""
        return self.record.name

    @property
    def metric(self) -> str:
        """The metric the run optimizes (``metric.name`` of the experiment)."""
        return self.exp.metric.name

    @property
    def direction(self) -> Direction:
        """Whether a larger or a smaller metric is better (the metric's, when not set)."""
        return self.exp.metric.resolved_direction

    @cached_property
    def experiment_json(self) -> str:
        """The experiment config as JSON, handed to every trial (a Ray worker rebuilds it)."""
        return self.exp.model_dump_json()
