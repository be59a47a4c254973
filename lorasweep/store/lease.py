"""One driver per experiment, enforced by the database.

A driver (``lorasweep compare``, a resume, the seed re-runs) holds a row of
``lorasweep_driver_leases`` for its experiment while it runs: it takes the row when it starts,
a heartbeat thread pushes ``expires_at`` forward every :data:`HEARTBEAT_SECONDS`, and the row is
deleted when the driver ends. A second driver finds the row and stops with one line naming the
running one (host, pid, since). A driver killed with SIGKILL leaves its row behind; its successor
takes it over once it has expired (:data:`LEASE_SECONDS` after the last heartbeat) or at once
when the holder ran on this host and its process is gone. Taking over is a compare-and-swap on the
old owner's id, so two successors cannot both win.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from lorasweep.errors import LorasweepError
from lorasweep.store.schema import DriverLease

log = logging.getLogger(__name__)

#: A lease not renewed for this long belongs to a dead driver.
LEASE_SECONDS = 60.0
#: How often a running driver renews its lease.
HEARTBEAT_SECONDS = 10.0


class DriverBusy(LorasweepError):
    """Another live driver runs this experiment."""


@dataclass(frozen=True, kw_only=True)
class Holder:
    """Who holds an experiment's lease."""

    experiment: str
    owner: str
    host: str
    pid: int
    acquired_at: dt.datetime
    expires_at: dt.datetime

    def describe(self) -> str:
        since = self.acquired_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"host {self.host}, pid {self.pid}, since {since}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _holder(row: DriverLease) -> Holder:
    return Holder(
        experiment=row.experiment,
        owner=row.owner,
        host=row.host,
        pid=row.pid,
        acquired_at=_utc(row.acquired_at),
        expires_at=_utc(row.expires_at),
    )


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def is_stale(holder: Holder, now: dt.datetime | None = None, host: str | None = None) -> bool:
    """The holder is dead: its lease expired, or it ran on this host and its process is gone."""
    if holder.expires_at <= (now or _now()):
        return True
    return holder.host == (host or socket.gethostname()) and _process_gone(holder.pid)


def holder(engine: object, experiment: str) -> Holder | None:
    """The live holder of ``experiment``'s lease, if any (reads only; no table: none)."""
    from sqlalchemy import inspect

    if not inspect(engine).has_table(DriverLease.__tablename__):  # type: ignore[arg-type]
        return None
    with Session(engine) as s:  # type: ignore[call-overload]
        row = s.get(DriverLease, experiment)
        if row is None:
            return None
        found = _holder(row)
    return None if is_stale(found) else found


def busy_message(found: Holder) -> str:
    return (
        f"experiment '{found.experiment}' is being run by another lorasweep ({found.describe()}); "
        "wait for it to end or stop it first (a driver killed with SIGKILL is taken over once its lease "
        f"expires, within {LEASE_SECONDS:.0f} s)"
    )


class Lease:
    """``with Lease(engine, name):`` holds ``name``'s lease for the block (see the module)."""

    def __init__(
        self,
        engine: object,
        experiment: str,
        *,
        seconds: float = LEASE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.engine = engine
        self.experiment = experiment
        self.seconds = seconds
        self.heartbeat = heartbeat
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.took_over: Holder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _session(self) -> Session:
        return Session(self.engine)  # type: ignore[call-overload]

    def acquire(self) -> None:
        """Take the lease, or take it over from a dead holder; a live holder: :class:`DriverBusy`."""
        now = _now()
        expires = now + dt.timedelta(seconds=self.seconds)
        try:
            with self._session() as s, s.begin():
                s.add(
                    DriverLease(
                        experiment=self.experiment,
                        owner=self.owner,
                        host=self.host,
                        pid=self.pid,
                        acquired_at=now,
                        expires_at=expires,
                    )
                )
            return
        except IntegrityError:
            pass
        with self._session() as s, s.begin():
            row = s.get(DriverLease, self.experiment)
            if row is None:  # released meanwhile: try once more from the start
                return self.acquire()
            found = _holder(row)
            if not is_stale(found, now, self.host):
                raise DriverBusy(busy_message(found))
            taken = s.execute(
                update(DriverLease)
                .where(DriverLease.experiment == self.experiment, DriverLease.owner == found.owner)
                .values(owner=self.owner, host=self.host, pid=self.pid, acquired_at=now, expires_at=expires)
            ).rowcount
        if taken != 1:  # another successor won the race
            raise DriverBusy(f"experiment '{self.experiment}' was just taken over by another lorasweep; wait for it")
        self.took_over = found
        log.info("took over experiment %s from a dead driver (%s)", self.experiment, found.describe())

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease is no longer ours."""
        with self._session() as s, s.begin():
            done = s.execute(
                update(DriverLease)
                .where(DriverLease.experiment == self.experiment, DriverLease.owner == self.owner)
                .values(expires_at=_now() + dt.timedelta(seconds=self.seconds))
            ).rowcount
        return done == 1

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat + 5)
        with self._session() as s, s.begin():
            s.execute(
                delete(DriverLease).where(DriverLease.experiment == self.experiment, DriverLease.owner == self.owner)
            )

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if not self.renew():
                    log.error("lost the lease of experiment %s to another driver", self.experiment)
                    return
            except SQLAlchemyError as e:  # a database hiccup: the next beat tries again
                log.warning("could not renew the lease of experiment %s: %s", self.experiment, e)

    def __enter__(self) -> Lease:
        self.acquire()
        self._thread = threading.Thread(target=self._beat, name="lorasweep-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
