"""The database: lorasweep's tables next to Optuna's, behind an explicit :class:`Storage`."""

from lorasweep.store.records import (
    ExperimentRecord,
    ReportRecord,
    StudyRecord,
    TrialCurve,
    TrialFinish,
    TrialRecord,
    TrialStart,
)
from lorasweep.store.schema import ExperimentStatus, TrialKind, TrialState
from lorasweep.store.storage import Storage, optuna_storage, safe_url

__all__ = [
    "ExperimentRecord",
    "ExperimentStatus",
    "ReportRecord",
    "Storage",
    "StudyRecord",
    "TrialCurve",
    "TrialFinish",
    "TrialKind",
    "TrialRecord",
    "TrialStart",
    "TrialState",
    "optuna_storage",
    "safe_url",
]
