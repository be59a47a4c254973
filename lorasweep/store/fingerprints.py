"""The fingerprint of the data an experiment trained on (``lorasweep_data_fingerprints``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from lorasweep.store.schema import DataFingerprint


def record_fingerprint(engine: Any, experiment_id: int, fingerprint: str, files: list[str]) -> None:
    with Session(engine) as s, s.begin():
        s.merge(DataFingerprint(experiment_id=experiment_id, fingerprint=fingerprint, files={"files": files}))


def stored_fingerprint(engine: Any, experiment_id: int) -> str | None:
    """The stored fingerprint (None: none was taken, e.g. generated data or an older schema)."""
    if not inspect(engine).has_table(DataFingerprint.__tablename__):
        return None
    with Session(engine) as s:
        row = s.get(DataFingerprint, experiment_id)
        return None if row is None else row.fingerprint
