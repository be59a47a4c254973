"""Tune callbacks, in the driver process, for every study of one Tune run (each trial's config
names its study):

- :class:`StoreCallback` writes each trial and its reports to the store (one writer: the driver,
  so SQLite is never written by many processes; reports are written in one batch per trial), and
  ends each study's row when its last trial ends;
- :class:`ProgressCallback` feeds a progress display, per study.

:func:`trial_state` is the one place that decides a trial's state from what it reported.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from lorasweep.config import Direction
from lorasweep.cost import device_seconds
from lorasweep.search.plan import Progress, StudyRun
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, sampled_params, trial_seed, trial_study
from lorasweep.search.spaces import resolve
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState
from lorasweep.trials.train import TrialEnd


def trial_state(last_result: dict[str, Any] | None, errored: bool) -> TrialState:
    """A finished trial's state: failed if it raised, else what its last report says; a trial
    that ended without its own final report was stopped by the scheduler (pruned)."""
    if errored:
        return TrialState.FAILED
    end = (last_result or {}).get("end")
    if end == TrialEnd.DIVERGED.value:
        return TrialState.DIVERGED
    if end == TrialEnd.COMPLETE.value:
        return TrialState.COMPLETE
    return TrialState.PRUNED


def trial_error(trial: Any) -> str:
    """``Type: message`` of the exception a trial raised, read from the driver's copy of Ray's
    error file (the synced copy may not exist yet when the error callback runs)."""
    import ray.cloudpickle as cloudpickle

    path = trial.pickled_error_file
    if path and Path(path).is_file():
        with open(path, "rb") as f:
            error = cloudpickle.load(f)
        cause = getattr(error, "cause", None) or error
        return f"{type(cause).__name__}: {cause}".strip()[:2000]
    text = Path(trial.error_file).read_text() if trial.error_file and Path(trial.error_file).is_file() else ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:2000] if lines else "the trial failed without an error message"


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


class _PerStudy(Callback):
    """Counts each study's finished trials; :meth:`study_ended` runs when a study's last one ends."""

    def __init__(self, runs: list[StudyRun]) -> None:
        self.runs = {run.key: run for run in runs}
        self.finished = dict.fromkeys(self.runs, 0)
        self.ended: set[str] = set()

    def _count(self, key: str) -> None:
        self.finished[key] += 1
        if self.finished[key] == self.runs[key].trials:
            self.ended.add(key)
            self.study_ended(self.runs[key])

    def study_ended(self, run: StudyRun) -> None: ...


class StoreCallback(_PerStudy):
    """Records every trial of the run's studies, with its reports, in lorasweep's tables: the
    optimized ``metric`` as each report's value, and every metric the task's kind declares
    (``reported``) in its metrics."""

    def __init__(
        self,
        storage: Storage,
        runs: list[StudyRun],
        seed: int,
        metric: str,
        direction: Direction,
        gpus_per_trial: float,
        *,
        reported: tuple[str, ...],
    ) -> None:
        super().__init__(runs)
        self.storage, self.seed, self.metric, self.direction = storage, seed, metric, direction
        self.gpus_per_trial = gpus_per_trial
        self.reported = reported
        self._ids: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._reports: dict[str, list[ReportRecord]] = {}
        self._retries: dict[str, int] = {}
        #: when the trial's current attempt started, and the device time of its earlier attempts
        self._attempt: dict[str, float] = {}
        self._lost: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks for its own restore; the live database handle (and
        with it the URL's password) stays out of that pickle."""
        return {k: v for k, v in self.__dict__.items() if k != "storage"}

    def study_ended(self, run: StudyRun) -> None:
        if run.plan.ends_study:
            self.storage.finish_study(run.study_id)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._ids:  # re-started after a recovery: the same row
            return
        run = self.runs[trial_study(trial.config)]
        params = sampled_params(trial.config)
        lora = resolve(run.plan.space, params, run.plan.rank)
        self._ids[trial.trial_id] = self.storage.start_trial(
            TrialStart(
                study_id=run.study_id,
                ray_trial_id=trial.trial_id,
                optuna_number=trial.config.get(OPTUNA_NUMBER),
                params=params,
                lora=lora.as_dict(),
                seed=trial_seed(trial.config, self.seed),
                kind=run.plan.kind,
            )
        )
        self._started[trial.trial_id] = self._attempt[trial.trial_id] = time.perf_counter()
        self._reports[trial.trial_id] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        metrics = {k: _finite(result.get(k)) for k in self.reported}
        self._reports[trial.trial_id].append(
            ReportRecord(
                trial_id=self._ids[trial.trial_id],
                step=int(result["step"]),
                value=_finite(result.get(self.metric)),
                train_loss=_finite(result.get("train_loss")),
                lr=_finite(result.get("lr")),
                examples=int(result["examples"]),
                tokens=int(result["tokens"]),
                device_seconds=float(result["device_seconds"]),
                metrics=metrics,
                signal=_finite(result.get("signal")),
                drift=_finite(result.get("drift")),
                drift_ratio=_finite(result.get("drift_ratio")),
            )
        )

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Its worker died and Ray runs it again (``ray.max_failures``): from scratch, reports too.
        The lost attempt's device time still counts in the trial's cost (wall time of the attempt
        × the device share: the device was held whether or not the attempt reported)."""
        now = time.perf_counter()
        attempt = now - self._attempt.get(trial.trial_id, now)
        self._lost[trial.trial_id] = self._lost.get(trial.trial_id, 0.0) + device_seconds(attempt, self.gpus_per_trial)
        self._attempt[trial.trial_id] = now
        self._retries[trial.trial_id] = self._retries.get(trial.trial_id, 0) + 1
        self._reports[trial.trial_id] = []

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, trial_state(trial.last_result, errored=False), None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self._ids:  # failed before it started (e.g. its actor died)
            self.on_trial_start(iteration, trials, trial)
        self._finish(trial, TrialState.FAILED, trial_error(trial))

    def _finish(self, trial: Any, state: TrialState, error: str | None) -> None:
        reports = tuple(self._reports.pop(trial.trial_id, []))
        values = [r.value for r in reports if r.value is not None]
        last = reports[-1] if reports else None
        now = time.perf_counter()
        wall = now - self._started.pop(trial.trial_id)
        attempt = now - self._attempt.pop(trial.trial_id, now - wall)
        lost = self._lost.pop(trial.trial_id, 0.0)
        self.storage.finish_trial(
            self._ids[trial.trial_id],
            TrialFinish(
                state=state,
                final_value=last.value if last and state != TrialState.DIVERGED else None,
                best_value=self.direction.best(values),
                steps=last.step if last else 0,
                diverged_step=last.step if last and state == TrialState.DIVERGED else None,
                error=error,
                # a trial that never reported held its device for (about) its wall time; earlier
                # attempts (retries after a lost worker) count too
                device_seconds=lost + (last.device_seconds if last else device_seconds(attempt, self.gpus_per_trial)),
                wall_seconds=wall,
                examples=last.examples if last else 0,
                tokens=last.tokens if last else 0,
                reports=reports,
                retries=self._retries.pop(trial.trial_id, 0),
                checkpoint=trial.checkpoint.path if trial.checkpoint is not None else None,
            ),
        )
        self._count(trial_study(trial.config))


class ProgressCallback(_PerStudy):
    """Tells ``progress`` when a trial of a study finishes, and when the study's last one has."""

    def __init__(self, progress: Progress, runs: list[StudyRun], metric: str) -> None:
        super().__init__(runs)
        self.progress, self.metric = progress, metric

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks; the display is not part of a restore."""
        return {k: v for k, v in self.__dict__.items() if k != "progress"}

    def study_ended(self, run: StudyRun) -> None:
        self.progress.study_done(run.plan)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        state = trial_state(trial.last_result, errored=False)
        value = _finite((trial.last_result or {}).get(self.metric)) if state == TrialState.COMPLETE else None
        self._done(trial, state, value)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._done(trial, TrialState.FAILED, None)

    def _done(self, trial: Any, state: TrialState, value: float | None) -> None:
        key = trial_study(trial.config)
        self.progress.trial_done(self.runs[key].plan, state, value)
        self._count(key)
