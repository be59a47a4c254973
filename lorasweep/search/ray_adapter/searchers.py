"""The searchers of a Tune run, in the driver process, on public APIs only: Ray Tune's
:class:`~ray.tune.search.Searcher` interface and Optuna's ask-and-tell interface (``study.ask``,
``trial.report``, ``study.tell``, ``study.enqueue_trial``).

- :class:`StudySearch` is one Optuna study (one space at one rank) as a Tune searcher, with
  lorasweep's trial states: a trial the scheduler stopped early is PRUNED in the Optuna study (not
  COMPLETE), a diverged or failed one FAIL; intermediate values are keyed by optimizer step. Its
  study lives in lorasweep's database (an ``RDBStorage``) under a name unique to the experiment.
- :class:`InterleavedSearch` runs every search study of an experiment in one Tune run: each new
  trial goes to the study that has started the fewest trials so far (ties: the experiment's order
  of studies), so with one trial at a time the studies alternate, every study gets exactly its
  budget, and machine load and noise fall on all spaces alike.

Both checkpoint (``save``/``restore``, which Ray calls for ``Tuner.restore``) as JSON of their
bookkeeping: which Ray trial is which Optuna trial, what each study has started. The study and
its storage, and with them the database URL and any password, are never in a checkpoint or a
pickle; lorasweep itself resumes from its database (``compare --resume``).
"""

from __future__ import annotations

import abc
import json
import math
from pathlib import Path
from typing import Any

import optuna
from ray.tune.search import Searcher

from lorasweep.errors import LorasweepError
from lorasweep.search.ray_adapter.callbacks import trial_state
from lorasweep.search.ray_adapter.keys import OPTUNA_NUMBER, STUDY
from lorasweep.store import TrialState
from lorasweep.store.storage import retrying

#: Optuna's state for each end of a lorasweep trial (a diverged trial has no value to rank).
OPTUNA_STATES = {
    TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE,
    TrialState.PRUNED: optuna.trial.TrialState.PRUNED,
    TrialState.DIVERGED: optuna.trial.TrialState.FAIL,
    TrialState.FAILED: optuna.trial.TrialState.FAIL,
    TrialState.INTERRUPTED: optuna.trial.TrialState.FAIL,
}
#: Tune's mode → Optuna's direction.
DIRECTIONS = {"max": "maximize", "min": "minimize"}


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


class JsonStateSearcher(Searcher, abc.ABC):
    """A searcher whose checkpoint is its ``get_state()`` as JSON: bookkeeping only, never a
    study, its storage or the database URL. A subclass that leaves out either state method cannot
    be made (TypeError), instead of failing at its first checkpoint."""

    @abc.abstractmethod
    def get_state(self) -> dict[str, Any]:
        """The bookkeeping to checkpoint, JSON-serializable."""

    @abc.abstractmethod
    def set_state(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`get_state` returned."""

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))


class StudySearch(JsonStateSearcher):
    """One Optuna study as a Tune searcher.

    ``space`` is the study's Optuna distributions (each trial asks all of them, in this order, so
    a study asks the same points as the same sampler asks alone); ``sampler`` its seeded sampler;
    ``storage`` Optuna's storage on lorasweep's database, ``study_name`` the study's unique name
    (created if missing, loaded if there). ``points_to_evaluate`` (warm start) are enqueued in
    the study: its first trials evaluate them. No Optuna pruner: early stopping is Tune's scheduler's.

    Each Tune trial's config is the asked parameters plus the Optuna trial number
    (:data:`~.keys.OPTUNA_NUMBER`). Writes to the database are retried through an outage."""

    def __init__(
        self,
        *,
        space: dict[str, optuna.distributions.BaseDistribution],
        metric: str,
        mode: str,
        sampler: optuna.samplers.BaseSampler,
        storage: optuna.storages.BaseStorage,
        study_name: str,
        points_to_evaluate: list[dict[str, Any]] | None = None,
    ) -> None:
        if mode not in DIRECTIONS:
            raise ValueError(f"StudySearch: mode must be one of {sorted(DIRECTIONS)}, not {mode!r}")
        super().__init__(metric=metric, mode=mode)
        self.space = dict(space)
        self.study_name = study_name
        self.sampler = sampler
        self._storage: optuna.storages.BaseStorage | None = storage
        self._study: optuna.Study | None = retrying(
            lambda: optuna.create_study(
                storage=storage,
                sampler=sampler,
                pruner=optuna.pruners.NopPruner(),
                study_name=study_name,
                direction=DIRECTIONS[mode],
                load_if_exists=True,
            ),
            "opening an Optuna study",
        )
        for point in points_to_evaluate or ():
            retrying(lambda point=point: self.study.enqueue_trial(point), "enqueuing a warm-start point")
        self._asked: dict[str, optuna.trial.Trial] = {}  # Ray trial id → its live Optuna trial
        self._numbers: dict[str, int] = {}  # Ray trial id → Optuna trial number (checkpointed)
        self._told: set[str] = set()
        self._reported: dict[str, set[int]] = {}

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            raise self._detached()
        return self._study

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        if self._storage is None:
            raise self._detached()
        return self._storage

    def _detached(self) -> LorasweepError:
        return LorasweepError(
            f"the searcher of Optuna study '{self.study_name}' was unpickled without its database; "
            "lorasweep resumes from its database (compare --resume), not from Ray's files"
        )

    def number(self, trial_id: str) -> int:
        """The Optuna trial number of Ray trial ``trial_id``."""
        return self._numbers[trial_id]

    # -- Tune's Searcher interface -------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return False  # the study's space, metric and direction were set when it was made

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        attempts = 0

        def ask() -> optuna.trial.Trial:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self._fail_orphans()
            return self.study.ask(self.space)

        trial = retrying(ask, "asking Optuna for a trial")
        self._asked[trial_id] = trial
        self._numbers[trial_id] = trial.number
        return {**trial.params, OPTUNA_NUMBER: trial.number}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._report(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._told or trial_id not in self._numbers:
            return
        state = trial_state(result, error)
        if state == TrialState.PRUNED and result:
            # Ray does not pass the result that the scheduler stopped on to the searcher's
            # on_trial_result; record it so that Optuna's pruned value is the rung value.
            self._report(trial_id, result)
        self._reported.pop(trial_id, None)
        value = _finite((result or {}).get(self.metric)) if state == TrialState.COMPLETE else None
        ot_state = OPTUNA_STATES[state]
        if ot_state == optuna.trial.TrialState.COMPLETE and value is None:
            ot_state = optuna.trial.TrialState.FAIL  # complete but no finite value: nothing to rank
        self._tell(trial_id, value, ot_state)

    def get_state(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "numbers": self._numbers,
            "told": sorted(self._told),
            "reported": {k: sorted(v) for k, v in self._reported.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if state["study_name"] != self.study_name:
            raise LorasweepError(
                f"the searcher checkpoint is of Optuna study '{state['study_name']}', not '{self.study_name}'"
            )
        self._numbers = {k: int(v) for k, v in state["numbers"].items()}
        self._told = set(state["told"])
        self._reported = {k: set(v) for k, v in state["reported"].items()}
        self._asked = {}  # trials asked before the checkpoint are reached by number

    # -- pickling (Ray pickles the searcher into its experiment state) ---------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The study, its storage and the live trials (database handles, and with them the URL
        and any password) stay out of every pickle."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_storage", "_study", "_asked")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._storage, self._study, self._asked = None, None, {}

    # -- Optuna ---------------------------------------------------------------------------------

    def _fail_orphans(self) -> None:
        """An ask cut off by a database outage may have created a trial that no Ray trial runs:
        close it as FAIL before asking again."""
        known = set(self._numbers.values())
        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        for t in running:
            if t.number not in known:
                self.study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)

    def _report(self, trial_id: str, result: dict[str, Any]) -> None:
        """One intermediate value per evaluation, at its step; a diverged trial's NaN is not one."""
        value, step = _finite(result.get(self.metric)), result.get("step")
        if trial_id in self._told or trial_id not in self._numbers or value is None or step is None:
            return
        steps = self._reported.setdefault(trial_id, set())
        if int(step) in steps:
            return
        retrying(lambda: self._intermediate(trial_id, value, int(step)), "reporting to Optuna")
        steps.add(int(step))

    def _intermediate(self, trial_id: str, value: float, step: int) -> None:
        trial = self._asked.get(trial_id)
        if trial is not None:
            trial.report(value, step)
            return
        # asked before a restore: no live trial object; the storage takes the value by trial id
        storage = self.storage
        study_id = storage.get_study_id_from_name(self.study.study_name)
        ot_id = storage.get_trial_id_from_study_id_trial_number(study_id, self._numbers[trial_id])
        storage.set_trial_intermediate_value(ot_id, step, value)

    def _tell(self, trial_id: str, value: float | None, state: optuna.trial.TrialState) -> None:
        """Finish the Optuna trial, retried through a database outage (a retry whose first
        attempt landed finds the trial finished and leaves it)."""
        number = self._numbers[trial_id]
        attempts = 0

        def tell() -> None:
            nonlocal attempts
            attempts += 1
            self.study.tell(number, value, state=state, skip_if_finished=attempts > 1)

        retrying(tell, "recording a trial in Optuna")
        self._told.add(trial_id)
        self._asked.pop(trial_id, None)


class InterleavedSearch(JsonStateSearcher):
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
        key = self._study_of.get(trial_id)
        if key is not None:
            self._searches[key].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        key = self._study_of.get(trial_id)
        if key is not None:
            self._searches[key].on_trial_complete(trial_id, result=result, error=error)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return False  # each study's space is its own, set when it was made

    def get_state(self) -> dict[str, Any]:
        return {
            "left": self._left,
            "count": self._count,
            "study_of": self._study_of,
            "studies": {key: search.get_state() for key, search in self._searches.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if set(state["studies"]) != set(self._searches):
            raise LorasweepError(
                f"the searcher checkpoint holds studies {sorted(state['studies'])}, not {sorted(self._searches)}"
            )
        self._left = {k: int(v) for k, v in state["left"].items()}
        self._count = {k: int(v) for k, v in state["count"].items()}
        self._study_of = dict(state["study_of"])
        for key, search in self._searches.items():
            search.set_state(state["studies"][key])
