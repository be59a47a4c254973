"""The glue between Ray Tune, Optuna and the store, all in the driver process.

- :class:`StudySearch` is Ray's ``OptunaSearch`` with lorasweep's trial states: a trial the
  scheduler stopped early is PRUNED in the Optuna study (not COMPLETE), a diverged one FAIL.
- :class:`StoreCallback` writes each trial and its reports to the store (one writer: the driver,
  so SQLite is never written by many processes; reports are written in one batch per trial).
- :class:`ProgressCallback` feeds a progress display.
:func:`trial_state` is the one place that decides a trial's state from what it reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch

from lorasweep.config import Direction, SpaceConfig
from lorasweep.cost import device_seconds
from lorasweep.search.spaces import resolve
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialKind, TrialStart, TrialState
from lorasweep.store.storage import retrying
from lorasweep.trials.train import TrialEnd
from lorasweep.trials.trainable import OPTUNA_NUMBER, sampled_params, trial_seed


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


class StudySearch(OptunaSearch):
    """OptunaSearch that tells Optuna lorasweep's states, keys intermediate values by optimizer
    step, and hands the Optuna trial number to the trial."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reported: dict[str, set[int]] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        attempts = 0

        def ask() -> dict[str, Any] | None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self._fail_orphans()
            return OptunaSearch.suggest(self, trial_id)

        config = retrying(ask, "asking Optuna for a trial")
        if config is None:
            return None
        return {**config, OPTUNA_NUMBER: self._ot_trials[trial_id].number}

    def _fail_orphans(self) -> None:
        """An ask cut off by a database outage may have created a trial that no Ray trial runs:
        close it as FAIL before asking again."""
        known = {t._trial_id for t in self._ot_trials.values()}
        for t in self._ot_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t._trial_id not in known:
                self._ot_study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._report(trial_id, result)

    def _report(self, trial_id: str, result: dict[str, Any]) -> None:
        """One intermediate value per evaluation, at its step; a diverged trial's NaN is not one."""
        value, step = _finite(result.get(self.metric)), result.get("step")
        steps = self._reported.setdefault(trial_id, set())
        if value is not None and step is not None and int(step) not in steps:
            ot_trial = self._ot_trials[trial_id]
            retrying(lambda: ot_trial.report(value, int(step)), "reporting to Optuna")
            steps.add(int(step))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials:
            return
        state = trial_state(result, error)
        if state == TrialState.PRUNED and result:
            # Ray does not pass the result that the scheduler stopped on to the searcher's
            # on_trial_result; record it so that Optuna's pruned value is the rung value.
            self._report(trial_id, result)
        self._reported.pop(trial_id, None)
        if state == TrialState.COMPLETE:
            self._tell(trial_id, _finite((result or {}).get(self.metric)), optuna.trial.TrialState.COMPLETE)
        elif state == TrialState.PRUNED:  # Optuna keeps the last intermediate value
            self._tell(trial_id, None, optuna.trial.TrialState.PRUNED)
        else:  # failed or diverged
            self._tell(trial_id, None, optuna.trial.TrialState.FAIL)

    def _tell(self, trial_id: str, value: float | None, state: optuna.trial.TrialState) -> None:
        """Finish the Optuna trial, retried through a database outage (Ray's OptunaSearch would
        log the error and leave the trial RUNNING)."""
        ot_trial = self._ot_trials[trial_id]
        if state == optuna.trial.TrialState.COMPLETE and value is None:
            state = optuna.trial.TrialState.FAIL  # complete but no finite value: nothing to rank

        attempts = 0

        def tell() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished():
                return  # a retry whose first attempt landed
            self._ot_study.tell(ot_trial, value, state=state)

        retrying(tell, "recording a trial in Optuna")
        self._completed_trials.add(trial_id)

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the searcher into ``tuner.pkl``; the study and its storage (a database
        handle) stay out of it, so no URL or password is written there."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_storage", "_ot_study")}

    def save(self, checkpoint_path: str) -> None:
        """Write nothing. Ray saves searchers for ``Tuner.restore``, which lorasweep does not use
        (the database is the record); OptunaSearch's pickle would hold the RDBStorage, and with it
        the database URL and its password."""


class StoreCallback(Callback):
    """Records every trial of one study, with its reports, in lorasweep's tables."""

    def __init__(
        self,
        storage: Storage,
        study_id: int,
        space: SpaceConfig,
        rank: int,
        seed: int,
        metric: str,
        direction: Direction,
        gpus_per_trial: float,
        kind: TrialKind = TrialKind.SEARCH,
    ) -> None:
        self.storage, self.study_id, self.space, self.rank, self.seed = storage, study_id, space, rank, seed
        self.metric, self.direction, self.gpus_per_trial, self.kind = metric, direction, gpus_per_trial, kind
        self._ids: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._reports: dict[str, list[ReportRecord]] = {}
        self._retries: dict[str, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks for its own restore; the live database handle (and
        with it the URL's password) stays out of that pickle."""
        return {k: v for k, v in self.__dict__.items() if k != "storage"}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._ids:  # re-started after a recovery: the same row
            return
        params = sampled_params(trial.config)
        lora = resolve(self.space, params, self.rank)
        self._ids[trial.trial_id] = self.storage.start_trial(
            TrialStart(
                study_id=self.study_id,
                ray_trial_id=trial.trial_id,
                optuna_number=trial.config.get(OPTUNA_NUMBER),
                params=params,
                lora=lora.as_dict(),
                seed=trial_seed(trial.config, self.seed),
                kind=self.kind,
            )
        )
        self._started[trial.trial_id] = time.perf_counter()
        self._reports[trial.trial_id] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        metrics = {k: _finite(result.get(k)) for k in ("accuracy", "f1", "eval_loss")}
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
        """Its worker died and Ray runs it again (``ray.max_failures``): from scratch, reports too."""
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
        wall = time.perf_counter() - self._started.pop(trial.trial_id)
        self.storage.finish_trial(
            self._ids[trial.trial_id],
            TrialFinish(
                state=state,
                final_value=last.value if last and state != TrialState.DIVERGED else None,
                best_value=self.direction.best(values),
                steps=last.step if last else 0,
                diverged_step=last.step if last and state == TrialState.DIVERGED else None,
                error=error,
                # a trial that never reported held its device for (about) its wall time
                device_seconds=last.device_seconds if last else device_seconds(wall, self.gpus_per_trial),
                wall_seconds=wall,
                examples=last.examples if last else 0,
                tokens=last.tokens if last else 0,
                reports=reports,
                retries=self._retries.pop(trial.trial_id, 0),
                checkpoint=trial.checkpoint.path if trial.checkpoint is not None else None,
            ),
        )


class ProgressCallback(Callback):
    """Calls ``on_done(state, value)`` when a trial finishes (the CLI's progress bars)."""

    def __init__(self, on_done: Callable[[TrialState, float | None], None], metric: str) -> None:
        self.on_done, self.metric = on_done, metric

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner's callbacks; the display callback is not part of a restore."""
        return {"metric": self.metric}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        state = trial_state(trial.last_result, errored=False)
        value = _finite((trial.last_result or {}).get(self.metric)) if state == TrialState.COMPLETE else None
        self.on_done(state, value)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.on_done(TrialState.FAILED, None)
