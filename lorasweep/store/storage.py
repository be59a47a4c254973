"""The explicit ``Storage`` object: the repository of lorasweep's rows, one engine, short
transactions, records out.

Nothing connects at import time. Opening a storage checks that the database answers; the schema
is created or upgraded only when :meth:`Storage.upgrade` is called (commands that write do so),
and read-only commands call :meth:`Storage.check_schema` instead. The engine and its retries live
in :mod:`~lorasweep.store.engine`, the schema's migrations in :mod:`~lorasweep.store.migrate`,
Optuna's storage on the same database in :mod:`~lorasweep.store.optuna_bridge`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
import math
import operator
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lorasweep.cost import device_seconds
from lorasweep.errors import StorageError
from lorasweep.metrics import Direction
from lorasweep.store import migrate, ownership, schema
from lorasweep.store.engine import CONNECT_WAITS, open_engine, retrying, transient_retry
from lorasweep.store.records import (
    ExperimentRecord,
    ReportRecord,
    StudyRecord,
    TrialCurve,
    TrialFinish,
    TrialRecord,
    TrialStart,
)
from lorasweep.store.rows import columns, from_row, now, record, utc
from lorasweep.store.schema import ExperimentStatus, TrialKind, TrialState
from lorasweep.store.secrets import safe_url

__all__ = ["Storage", "retrying"]


class Storage:
    """lorasweep's tables in one database (SQLite file or PostgreSQL), shared with Optuna."""

    def __init__(self, engine: Engine, url: str, readonly: bool = False) -> None:
        self.engine = engine  # its URL object holds the password, if any (SQLAlchemy masks it when printed)
        self.url = url  # never holds a password (see lorasweep.store.secrets)
        #: opened by a command that only reads: SQLite is opened read-only, its journal mode untouched
        self.readonly = readonly
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickles as its password-free URL; an unpickled copy reconnects with the password from
        ``LORASWEEP_DB_PASSWORD_FILE`` or libpq's PGPASSWORD / .pgpass."""
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = Storage.open(state["url"], create=True)
        self.__dict__.update(other.__dict__)

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, create: bool = False, readonly: bool = False) -> Storage:
        """Connect to ``url``; a bad or unreachable URL is a :class:`StorageError` (password hidden).

        A SQLite file that does not exist is created only with ``create`` (commands that write).
        ``readonly`` (commands that only read): a SQLite file is opened read-only, so neither its
        rows nor its journal mode change. A SQLite file must be empty or hold only lorasweep's and
        Optuna's tables (another application's database is refused, untouched), and a command that
        writes needs a writable folder (SQLite keeps its journal next to the file)."""
        shown = safe_url(url)
        engine, url, readonly = open_engine(url, create=create, readonly=readonly)
        storage = cls(engine, url, readonly=readonly)
        if not storage.exists():
            return storage  # SQLite creates the file on first write; nothing is written before that
        try:  # a wrong host or port fails in seconds; its retries are not news (the error follows)
            retrying(lambda: engine.connect().close(), "connecting", CONNECT_WAITS, logging.DEBUG)
        except SQLAlchemyError as e:
            engine.dispose()
            reason = str(getattr(e, "orig", e)).strip().splitlines()[0]
            raise StorageError(
                f"cannot connect to --storage {shown} ({reason}); check the URL and that the server runs"
            ) from e
        # SQLite files are checked before connecting (sqlite_files.check_sqlite_file)
        if engine.dialect.name != "sqlite" and (foreign := ownership.foreign(engine)):
            engine.dispose()
            raise StorageError(ownership.foreign_message(shown, "the database", foreign))
        if newer := ownership.newer_revision(engine):
            engine.dispose()
            raise StorageError(ownership.newer_message(shown, newer))
        return storage

    def exists(self) -> bool:
        """False for a SQLite file that has not been created yet (nothing to read there)."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return True
        return Path(parsed.database).exists()

    def has_table(self, name: str) -> bool:
        """Whether the database holds a table called ``name``."""
        from sqlalchemy import inspect

        return inspect(self.engine).has_table(name)

    def close(self) -> None:
        """Close the engine's pooled connections (the storage can be opened again)."""
        self.engine.dispose()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Create lorasweep's tables, or migrate them to this release's schema (or ``revision``);
        many processes may do so at once (see :func:`lorasweep.store.migrate.upgrade`)."""
        migrate.upgrade(self.engine, revision)

    def schema_revision(self) -> str | None:
        """The revision of lorasweep's tables (None: there are none)."""
        return migrate.schema_revision(self.engine)

    def check_schema(self) -> None:
        """Raise unless the database holds lorasweep's tables at this release's revision."""
        migrate.check_schema(self.engine, self.url)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # -- experiments ----------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str, config: dict[str, Any]) -> ExperimentRecord:
        """Store a new experiment, RUNNING, with its validated config (JSON, the experiment's whole
        YAML after overrides: ``compare --resume`` runs it again from there). A name the database
        holds already is a :class:`StorageError` asking for another ``--name``. Not retried: a
        retry whose first commit landed would find its own row and report the name as taken."""
        row = schema.Experiment(
            name=name, description=description, config=config, status=ExperimentStatus.RUNNING, created_at=now()
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError as e:
            raise StorageError(
                f"experiment '{name}' already exists in {safe_url(self.url)}; choose another --name"
            ) from e
        return record(ExperimentRecord, row)

    @transient_retry
    def reopen_experiment(self, experiment_id: int) -> None:
        """Mark an experiment running again (``compare --resume``)."""
        with self._session() as s:
            row = s.get_one(schema.Experiment, experiment_id)
            row.status, row.finished_at = ExperimentStatus.RUNNING, None

    @transient_retry
    def finish_experiment(self, experiment_id: int, status: ExperimentStatus) -> None:
        """Record the experiment's end: ``status`` and the time now."""
        with self._session() as s:
            row = s.get_one(schema.Experiment, experiment_id)
            row.status, row.finished_at = status, now()

    @transient_retry
    def experiment_names(self) -> list[str]:
        """The stored experiments' names, oldest first."""
        with self._session() as s:
            return list(s.scalars(select(schema.Experiment.name).order_by(schema.Experiment.id)))

    def experiment(self, name: str | None) -> ExperimentRecord:
        """The experiment called ``name``; with ``None``, the only one (else an error listing names)."""
        names = self.experiment_names()
        if name is None:
            if len(names) == 1:
                name = names[0]
            elif not names:
                raise StorageError(f"{safe_url(self.url)} holds no experiments; run lorasweep compare first")
            else:
                listed = ", ".join(names)
                raise StorageError(
                    f"{safe_url(self.url)} holds {len(names)} experiments; pick one with --experiment: {listed}"
                )
        with self._session() as s:
            row = s.scalars(select(schema.Experiment).where(schema.Experiment.name == name)).one_or_none()
            if row is None:
                raise StorageError(
                    f"no experiment '{name}' in {safe_url(self.url)}; known: {', '.join(names) or '(none)'}"
                )
            return record(ExperimentRecord, row)

    # -- studies --------------------------------------------------------------------------------

    @transient_retry
    def add_study(
        self,
        experiment_id: int,
        *,
        space: str,
        rank: int,
        optuna_study_name: str,
        metric: str,
        direction: Direction,
        space_config: dict[str, Any],
        repeat: int = 0,
    ) -> StudyRecord:
        """Store one study of an experiment: one space at one rank, the Optuna study of that name
        (same database), the metric and direction it optimizes, and the space resolved at that rank
        (JSON). Idempotent: a study of that Optuna name in the experiment is returned as it is (a
        retried transaction may have committed the first time)."""
        row = schema.Study(
            experiment_id=experiment_id,
            space=space,
            rank=rank,
            repeat=repeat,
            optuna_study_name=optuna_study_name,
            metric=metric,
            direction=direction,
            space_config=space_config,
            started_at=now(),
        )
        with self._session() as s:
            existing = s.scalars(  # a retried transaction may have committed the first time
                select(schema.Study).where(
                    schema.Study.experiment_id == experiment_id, schema.Study.optuna_study_name == optuna_study_name
                )
            ).one_or_none()
            if existing is not None:
                return record(StudyRecord, existing)
            s.add(row)
        return record(StudyRecord, row)

    @transient_retry
    def finish_study(self, study_id: int) -> None:
        """Record the study's end (the time now)."""
        with self._session() as s:
            s.get_one(schema.Study, study_id).finished_at = now()

    @transient_retry
    def studies(self, experiment_id: int) -> list[StudyRecord]:
        """The experiment's studies, in the order they were stored."""
        with self._session() as s:
            rows = s.scalars(
                select(schema.Study).where(schema.Study.experiment_id == experiment_id).order_by(schema.Study.id)
            )
            return [record(StudyRecord, r) for r in rows]

    # -- trials ---------------------------------------------------------------------------------

    @transient_retry
    def start_trial(self, start: TrialStart) -> int:
        """Store a trial as RUNNING with its sampled parameters, seed and LoRA settings; return its
        id. Idempotent: a trial of the same study and Ray trial id is not stored twice (a retried
        transaction may have committed the first time), its id is returned. Its end and reports
        come in one transaction from :meth:`finish_trial`."""
        lora = start.lora
        row = schema.Trial(
            study_id=start.study_id,
            ray_trial_id=start.ray_trial_id,
            optuna_number=start.optuna_number,
            state=TrialState.RUNNING,
            kind=start.kind,
            params=start.params,
            seed=start.seed,
            r=lora.rank,
            alpha=lora.alpha,
            c=lora.c,
            lr=lora.lr,
            scaling=lora.scaling,
            effective_step=lora.effective_step,
            use_rslora=lora.use_rslora,
            started_at=now(),
        )
        with self._session() as s:
            existing = s.scalars(  # a retried transaction may have committed the first time
                select(schema.Trial.id).where(
                    schema.Trial.study_id == start.study_id, schema.Trial.ray_trial_id == start.ray_trial_id
                )
            ).first()
            if existing is not None:
                return existing
            s.add(row)
        return row.id

    @transient_retry
    def finish_trial(self, trial_id: int, finish: TrialFinish) -> None:
        """Record a trial's end and all its reports in one transaction."""
        with self._session() as s:
            row = s.get_one(schema.Trial, trial_id)
            if row.finished_at is not None:  # recorded already (a retry whose first commit landed)
                return
            for f in dataclasses.fields(TrialFinish):
                if f.name != "reports":
                    setattr(row, f.name, getattr(finish, f.name))
            row.finished_at = now()
            s.add_all(
                schema.Report(trial_id=trial_id, **{k: v for k, v in dataclasses.asdict(r).items() if k != "trial_id"})
                for r in finish.reports
            )

    @transient_retry
    def interrupt_running_trials(
        self, experiment_id: int, error: str, ended_at: dt.datetime | None = None, gpus_per_trial: float = 0.0
    ) -> int:
        """Mark the experiment's trials that are still RUNNING as INTERRUPTED with ``error``; return
        how many. ``ended_at``: when the search was stopped; each trial's wall time since its start
        and its device time (:func:`lorasweep.cost.device_seconds`) are recorded, so that the cost
        of the search includes them. Without it (a crash found by ``compare --resume``: the end is
        not known) they stay 0."""
        with self._session() as s:
            rows = s.scalars(
                select(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id, schema.Trial.state == TrialState.RUNNING)
            ).all()
            for row in rows:
                row.state, row.error, row.finished_at = TrialState.INTERRUPTED, error, now()
                if ended_at is not None:
                    wall = max(0.0, (ended_at - utc(row.started_at)).total_seconds())
                    row.wall_seconds, row.device_seconds = wall, device_seconds(wall, gpus_per_trial)
            return len(rows)

    @transient_retry
    def trials(self, experiment_id: int) -> list[TrialRecord]:
        """All trials of an experiment, in the order they finished (running ones last)."""
        with self._session() as s:
            rows = s.connection().execute(  # Core rows, no ORM loading
                select(*columns(TrialRecord, schema.Trial.__table__))
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Trial.finished_at.is_(None), schema.Trial.finished_at, schema.Trial.id)
            )
            return [from_row(TrialRecord, row) for row in rows.all()]

    @transient_retry
    def reports(self, experiment_id: int) -> list[ReportRecord]:
        """Every report of an experiment's trials, metrics included, by trial and step.

        Reports that only draw curves should read :meth:`curves`: it skips the metrics (JSON)
        and builds one record per trial, not one per report."""
        with self._session() as s:
            rows = s.connection().execute(  # Core rows, no ORM loading
                select(*columns(ReportRecord, schema.Report.__table__))
                .join(schema.Trial)
                .join(schema.Study)
                .where(schema.Study.experiment_id == experiment_id)
                .order_by(schema.Report.trial_id, schema.Report.step)
            )
            return [from_row(ReportRecord, row) for row in rows.all()]

    @transient_retry
    def curves(self, experiment_id: int, trial_ids: Collection[int] | None = None) -> dict[int, TrialCurve]:
        """Per trial of the experiment that reported (or of ``trial_ids`` only): its steps, target
        values and drift ratios. Four columns, no metrics, one record per trial."""
        report = schema.Report
        if trial_ids is None:  # IN, not a join: the (trial_id, step) index gives the order, no sort
            chunks: list[Any] = [
                select(schema.Trial.id).join(schema.Study).where(schema.Study.experiment_id == experiment_id)
            ]
        else:
            ids = sorted(set(trial_ids))
            chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
        out: dict[int, TrialCurve] = {}
        with self._session() as s:
            for chunk in chunks:
                result = s.connection().execute(  # Core rows, no ORM loading
                    select(report.trial_id, report.step, report.value, report.drift_ratio)
                    .where(report.trial_id.in_(chunk))
                    .order_by(report.trial_id, report.step)
                )
                rows = itertools.chain.from_iterable(result.partitions(10_000))  # fetchmany, not row by row
                for trial_id, group in itertools.groupby(rows, key=operator.itemgetter(0)):
                    _, steps, values, ratios = zip(*group, strict=True)
                    out[trial_id] = TrialCurve(trial_id=trial_id, steps=steps, values=values, drift_ratios=ratios)
        return out

    @transient_retry
    def drift_totals(self, experiment_id: int, kind: TrialKind = TrialKind.SEARCH) -> list[tuple[int, int, float, int]]:
        """``(study id, step, sum, count)`` of the finite drift ratios that the experiment's
        trials of ``kind`` reported at each step: per-step means without reading every report
        into Python (the database adds up the 1M rows of 10,000 trials × 100 evaluations)."""
        report, trial = schema.Report, schema.Trial
        finite = (report.drift_ratio > -math.inf) & (report.drift_ratio < math.inf)  # NULL and NaN fail too
        query = (
            select(trial.study_id, report.step, func.sum(report.drift_ratio), func.count(report.drift_ratio))
            .join(trial, report.trial_id == trial.id)
            .join(schema.Study)
            .where(schema.Study.experiment_id == experiment_id, trial.kind == kind, finite)
            .group_by(trial.study_id, report.step)
        )
        with self._session() as s:
            return [(int(a), int(b), float(c), int(d)) for a, b, c, d in s.connection().execute(query).all()]
