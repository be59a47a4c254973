"""The database: lorasweep's tables next to Optuna's, behind an explicit :class:`Storage`.

- :mod:`~lorasweep.store.storage`: :class:`Storage`, the repository (records in, records out);
- :mod:`~lorasweep.store.engine`: the engine for a URL, SQLite's settings, retried transactions;
- :mod:`~lorasweep.store.optuna_bridge`: Optuna's RDBStorage on the same database;
- :mod:`~lorasweep.store.migrate`: creating and migrating the schema (Alembic);
- :mod:`~lorasweep.store.sqlite_files`: vetting a SQLite file before anything connects;
- :mod:`~lorasweep.store.rows`: rows to records; :mod:`~lorasweep.store.records`: the records;
  :mod:`~lorasweep.store.schema`: the tables; :mod:`~lorasweep.store.secrets`: passwords.
"""

from lorasweep.store.engine import retrying
from lorasweep.store.optuna_bridge import optuna_storage
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
from lorasweep.store.secrets import safe_url
from lorasweep.store.storage import Storage

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
    "retrying",
    "safe_url",
]
