"""Tune callbacks, in the driver process, for every study of one Tune run (each trial's config
names its study):

- :class:`StoreCallback` writes each trial and its reports to the store (one writer: the driver,
  so SQLite is never written by many processes; reports are written in one batch per trial), and
  ends each study's row when its last trial ends;
- :class:`ProgressCallback` feeds a progress display, per study;
- :class:`StopCallback` ends the Tune loop when a stop was asked for (SIGINT, SIGTERM).

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
from lorasweep.search.plan import ProgressListener, StopRequest, StudyRun
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, sampled_params, trial_seed, trial_study
from lorasweep.space.resolve import resolve
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialStart, TrialState
from lorasweep.train.train import TrialEnd, read_test_metrics


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
        if getattr(cause, "records_as_is", False):  # the user's code raised (kind: python): its own line
            return str(cause)[:2000]
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


class StopCallback(Callback):
    """At the start of each step of the Tune loop, raise :class:`~lorasweep.search.plan.RunInterrupted`
    if a stop was asked for: before the loop asks for or starts another trial. The exception is no
    Exception (a KeyboardInterrupt), so Tune does not stop its trials gracefully first (which takes
    seconds, and ``ray job stop`` kills the driver 3 s after its SIGTERM): the runner records the
    stop at once, and the trials end with the driver (or its Ray)."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks; a stop request (a threading.Event) is not part of a restore."""
        return {}

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self.stop.check()


class StoreCallback(_PerStudy):
    """Records every trial of the run's studies, with its reports, in lorasweep's tables: the
    optimized ``metric`` as each report's value, and every metric the task's kind declares
    (``reported``) in its metrics.

    After a stop was asked for, a trial that errors is left RUNNING: its worker may have been
    stopped by the same signal (SIGTERM to a process group, a node going down with the driver), so
    the runner records it as interrupted, not as failed. A trial that completes is recorded as usual."""

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
        stop: StopRequest | None = None,
    ) -> None:
        super().__init__(runs)
        self.storage, self.seed, self.metric, self.direction = storage, seed, metric, direction
        self.gpus_per_trial = gpus_per_trial
        self.reported = reported
        self.stop = stop or StopRequest()
        self._ids: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._attempt: dict[str, float] = {}  # when the trial's current attempt started
        self._lost: dict[str, float] = {}  # device-seconds of its attempts lost with their worker
        self._tested: dict[str, dict[str, float | None]] = {}  # test metrics of its last report (seeds, ablation)
        self._reports: dict[str, list[ReportRecord]] = {}
        self._retries: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks for its own restore; the live database handle (and
        with it the URL's password) and the stop request stay out of that pickle."""
        return {k: v for k, v in self.__dict__.items() if k not in ("storage", "stop")}

    def study_ended(self, run: StudyRun) -> None:
        if run.plan.ends_study:
            self.storage.finish_study(run.study_id)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._attempt[trial.trial_id] = time.perf_counter()
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
                lora=lora,
                seed=trial_seed(trial.config, self.seed),
                kind=run.plan.kind,
            )
        )
        self._started[trial.trial_id] = time.perf_counter()
        self._reports[trial.trial_id] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        metrics = {k: _finite(result.get(k)) for k in self.reported}
        tested = read_test_metrics(result)
        if tested:  # the trial's last report, after its evaluation of the test split
            self._tested[trial.trial_id] = {k: _finite(tested.get(k)) for k in self.reported}
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
        The lost attempt's device time (its wall time × the trial's device share) was spent: it
        counts in the trial's device-seconds."""
        tid = trial.trial_id
        self._retries[tid] = self._retries.get(tid, 0) + 1
        self._reports[tid] = []
        self._tested.pop(tid, None)
        started = self._attempt.pop(tid, None)
        if started is not None:
            lost = device_seconds(time.perf_counter() - started, self.gpus_per_trial)
            self._lost[tid] = self._lost.get(tid, 0.0) + lost

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, trial_state(trial.last_result, errored=False), None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.stop.requested:  # left RUNNING: the runner records it as interrupted
            return
        if trial.trial_id not in self._ids:  # failed before it started (e.g. its actor died)
            self.on_trial_start(iteration, trials, trial)
        self._finish(trial, TrialState.FAILED, trial_error(trial))

    def _finish(self, trial: Any, state: TrialState, error: str | None) -> None:
        tid = trial.trial_id
        reports = tuple(self._reports.pop(tid, []))
        values = [r.value for r in reports if r.value is not None]
        last = reports[-1] if reports else None
        now = time.perf_counter()
        wall = now - self._started.pop(tid)
        attempt = self._attempt.pop(tid, None)  # None: lost with its worker, not started again
        # a trial that never reported held its device for (about) its attempt's wall time
        used = last.device_seconds if last else device_seconds(now - attempt if attempt else 0.0, self.gpus_per_trial)
        tested = self._tested.pop(tid, None)
        tested = tested if state == TrialState.COMPLETE else None
        self.storage.finish_trial(
            self._ids[tid],
            TrialFinish(
                state=state,
                final_value=last.value if last and state != TrialState.DIVERGED else None,
                best_value=self.direction.best(values),
                steps=last.step if last else 0,
                diverged_step=last.step if last and state == TrialState.DIVERGED else None,
                error=error,
                device_seconds=used + self._lost.pop(tid, 0.0),
                wall_seconds=wall,
                examples=last.examples if last else 0,
                tokens=last.tokens if last else 0,
                reports=reports,
                retries=self._retries.pop(tid, 0),
                checkpoint=trial.checkpoint.path if trial.checkpoint is not None else None,
                device=_device(trial.last_result),
                test_value=tested.get(self.metric) if tested else None,
                test_metrics=tested,
            ),
        )
        self._count(trial_study(trial.config))


class ProgressCallback(_PerStudy):
    """Tells ``progress`` when a trial of a study finishes, and when the study's last one has."""

    def __init__(self, progress: ProgressListener, runs: list[StudyRun], metric: str) -> None:
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


def _device(result: dict[str, Any] | None) -> str | None:
    """The device a trial reported it trained on (None if it never reported)."""
    device = (result or {}).get("device")
    return str(device) if device else None
