"""Keeping lorasweep's records and Optuna's in step when a search ends, was stopped or died:
trials still running are interrupted in lorasweep's tables and FAIL in Optuna's, unless Optuna
recorded their end already (through its public API: ``get_all_study_names``, ``load_study``,
``get_trials``, ``RDBStorage.set_trial_state_values``)."""

from __future__ import annotations

import datetime as dt

import optuna

from lorasweep.search.plan import StudyPlan
from lorasweep.store import ExperimentRecord, Storage, TrialFinish, TrialRecord, TrialState

#: How the error of an interrupted trial starts (its state is INTERRUPTED; ``compare --resume``
#: re-runs its budget). Rows written before schema 0007 have state FAILED and this error.
INTERRUPTED = "interrupted"


def finished(trial: TrialRecord) -> bool:
    """A trial that used its budget: it ended by itself (complete, pruned, diverged, raised), not
    cut off by a stop or a crash (INTERRUPTED; before schema 0007, FAILED with that error)."""
    if trial.state in (TrialState.RUNNING, TrialState.INTERRUPTED):
        return False
    return not (trial.state == TrialState.FAILED and (trial.error or "").startswith(INTERRUPTED))


def close_open_trials(
    storage: Storage,
    record: ExperimentRecord,
    plans: tuple[StudyPlan, ...] | list[StudyPlan],
    ot_storage: optuna.storages.RDBStorage,
    *,
    reason: str,
    ended_at: dt.datetime | None = None,
    gpus_per_trial: float = 0.0,
) -> int:
    """Trials still running when the search ends did not finish: INTERRUPTED in lorasweep's
    tables, FAIL in Optuna's; return how many. ``ended_at``: when the search stopped, from which
    their device time is counted (None for a crash found on resume: the end is not known).

    A stop or a crash can fall between Optuna's record of a trial's end and lorasweep's (Ray tells
    the searcher first): a trial Optuna has COMPLETE or PRUNED finished, so lorasweep records the
    end Optuna has (state and value; its reports were not written) instead of calling it
    interrupted. One Optuna has as FAIL may have raised or been cut short: it is interrupted, and
    runs again on resume."""
    names = set(optuna.get_all_study_names(ot_storage))
    studies = {
        p.study_name: optuna.load_study(study_name=p.study_name, storage=ot_storage)
        for p in plans
        if p.study_name in names
    }
    row_study = {s.id: s.optuna_study_name for s in storage.studies(record.id)}
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in storage.trials(record.id):
        study = studies.get(row_study.get(t.study_id, ""))
        if t.state != TrialState.RUNNING or t.optuna_number is None or study is None:
            continue
        ot = next((o for o in study.get_trials(deepcopy=False) if o.number == t.optuna_number), None)
        if ot is not None and ot.state in ended:
            storage.finish_trial(t.id, finish_from_optuna(ot))
    cut = storage.interrupt_running_trials(record.id, reason, ended_at, gpus_per_trial)
    for name, study in studies.items():
        study_id = ot_storage.get_study_id_from_name(name)
        for ot in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            trial_id = ot_storage.get_trial_id_from_study_id_trial_number(study_id, ot.number)
            ot_storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return cut


def finish_from_optuna(ot: optuna.trial.FrozenTrial) -> TrialFinish:
    """A trial's end as Optuna recorded it, COMPLETE or PRUNED (its reports are not known)."""
    steps = max(ot.intermediate_values, default=0)
    last = ot.intermediate_values.get(steps) if ot.intermediate_values else None
    if ot.state == optuna.trial.TrialState.COMPLETE:
        state, value = TrialState.COMPLETE, ot.value
    else:
        state, value = TrialState.PRUNED, last
    return TrialFinish(
        state=state,
        final_value=value,
        best_value=value,
        steps=steps,
        diverged_step=None,
        error=None,
        device_seconds=0.0,
        wall_seconds=0.0,
        examples=0,
        tokens=0,
        reports=(),
    )
