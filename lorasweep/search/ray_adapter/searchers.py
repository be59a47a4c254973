"""The searchers of a Tune run, in the driver process.

- :class:`StudySearch` is Ray's ``OptunaSearch`` for one Optuna study, with lorasweep's trial
  states: a trial the scheduler stopped early is PRUNED in the Optuna study (not COMPLETE), a
  diverged or failed one FAIL; intermediate values are keyed by optimizer step.
- :class:`InterleavedSearch` runs every search study of an experiment in one Tune run: each new
  trial goes to the study that has started the fewest trials so far (ties: the experiment's order
  of studies), so with one trial at a time the studies alternate, every study gets exactly its
  budget, and machine load and noise fall on all spaces alike.

This module (with :mod:`.tuner`) is the one place that uses OptunaSearch's private parts
(``_ot_trials``, ``_ot_study``, ``_completed_trials``) and Optuna's ``_trial_id``.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from lorasweep.search.ray_adapter.callbacks import trial_state
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, STUDY
from lorasweep.store import TrialState
from lorasweep.store.storage import retrying


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


class InterleavedSearch(Searcher):
    """Every search study of an experiment in one Tune run.

    ``searches`` maps each study's name to its :class:`StudySearch`, in the experiment's order;
    ``budgets`` how many trials this run starts for it; ``done`` how many of its trials finished
    before (``compare --resume``). Each new trial goes to the open study with the fewest trials
    done or started; its config carries the study's name (:data:`~.keys.STUDY`), by which the
    scheduler, the trainable and the callbacks find the study. Each study keeps its own sampler
    (and seed), so it asks the same sequence of points as a study run alone."""

    def __init__(
        self,
        searches: dict[str, StudySearch],
        budgets: dict[str, int],
        done: dict[str, int],
        metric: str,
        mode: str,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if set(budgets) != set(searches) or set(done) != set(searches):
            raise ValueError("InterleavedSearch: searches, budgets and done must name the same studies")
        self._searches = searches
        self._left = dict(budgets)
        self._count = dict(done)
        self._order = {key: i for i, key in enumerate(searches)}
        self._study_of: dict[str, str] = {}

    def next_study(self) -> str | None:
        """The study the next trial goes to (None when every study has started its budget)."""
        open_ = [key for key, left in self._left.items() if left > 0]
        return min(open_, key=lambda key: (self._count[key], self._order[key])) if open_ else None

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        key = self.next_study()
        if key is None:
            return Searcher.FINISHED
        config = self._searches[key].suggest(trial_id)
        if config is None:
            return None
        self._left[key] -= 1
        self._count[key] += 1
        self._study_of[trial_id] = key
        return {**config, STUDY: key}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._searches[self._study_of[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        key = self._study_of.get(trial_id)
        if key is not None:
            self._searches[key].on_trial_complete(trial_id, result=result, error=error)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return False  # each study's space is its own, set when it was made

    def save(self, checkpoint_path: str) -> None:
        """Write nothing, as :meth:`StudySearch.save`."""

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("lorasweep resumes from its database (compare --resume), not from Ray's state")
