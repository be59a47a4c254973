"""Checks a driver makes before it writes to an experiment (issue 24): no other live driver runs
it (:mod:`lorasweep.store.lease`), and the data it resumes on is the data it trained on."""

from __future__ import annotations

from pathlib import Path

from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError
from lorasweep.store import ExperimentRecord, Storage
from lorasweep.store.fingerprints import record_fingerprint, stored_fingerprint
from lorasweep.store.lease import DriverBusy, busy_message, holder
from lorasweep.train.datafiles import fingerprint, local_files


def data_files(exp: ExperimentConfig) -> list[Path] | None:
    """The local files the experiment's task reads (None: generated or hub data)."""
    data = getattr(exp.task, "data", None)
    if data is None:
        return None
    files = local_files(data.path, data.data_files)
    return files if files and all(f.is_file() for f in files) else None


def record_data(storage: Storage, record: ExperimentRecord, exp: ExperimentConfig) -> None:
    """Store the fingerprint of the data a new experiment trains on."""
    files = data_files(exp)
    if files:
        record_fingerprint(storage.engine, record.id, fingerprint(files), [str(f) for f in files])


def check_resume(storage: Storage, record: ExperimentRecord, exp: ExperimentConfig, allow_changed_data: bool) -> None:
    """Before a resume starts Ray: no live driver holds the experiment, and its data files hold the
    bytes it trained on (unless ``--allow-changed-data``)."""
    busy = holder(storage.engine, record.name)
    if busy is not None:
        raise DriverBusy(busy_message(busy))
    before = stored_fingerprint(storage.engine, record.id)
    files = data_files(exp)
    if before is None or not files or allow_changed_data:
        return
    now = fingerprint(files)
    if now != before:
        shown = ", ".join(str(f) for f in files[:3]) + (", ..." if len(files) > 3 else "")
        raise LorasweepError(
            f"experiment '{record.name}' trained on other data: {shown} changed since it ran (fingerprint "
            f"{before[:19]}… now {now[:19]}…); restore the data, run a new experiment, or pass --allow-changed-data"
        )
