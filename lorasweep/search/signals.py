"""Stopping a run as a whole: SIGINT (Ctrl-C) and SIGTERM (``kill``, ``ray job stop``,
Kubernetes) ask for a stop that the Tune loop obeys; a second signal, or the grace time running
out, interrupts the main thread where it is. The runner then records the stop."""

from __future__ import annotations

import _thread
import datetime as dt
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The signals that stop a whole run: Ctrl-C, SIGTERM (``kill``, ``ray job stop``, Kubernetes) and
#: SIGHUP (the SSH session or terminal closed): each ends the run as interrupted, resumable.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the Tune loop has to obey a stop before the main thread is interrupted where it is;
#: well inside ``ray job stop``'s 3 s before its SIGKILL, with time left to record the stop.
STOP_GRACE_S = 1.0


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by signal ``signum``: a stop, as Ctrl-C is. Not an Exception, so that no
    ``except Exception`` on its way out (Tune's loop, lorasweep's retries) takes it for an error."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    """A stop of the whole run, asked for by a signal handler and obeyed by the Tune loop at its
    next step (:meth:`check`): running trials are then recorded as interrupted and no trial starts.

    ``at`` is when the stop was asked for: where the interrupted trials' time ends. ``closing``
    is set while the stop is being recorded, when further signals are ignored."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self.at: dt.datetime | None = None
        self.closing = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, signum: int) -> None:
        if not self._event.is_set():
            self.signum, self.at = signum, dt.datetime.now(dt.UTC)
            self._event.set()

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a stop was asked for."""
        if self.signum is not None and self.requested:
            raise RunInterrupted(self.signum)


@contextmanager
def stop_signals(stop: StopRequest, grace: float = STOP_GRACE_S) -> Iterator[None]:
    """While a run is recorded, SIGINT and SIGTERM stop it as a whole. The first one asks for the
    stop (:class:`StopRequest`), which the Tune loop obeys at its next step; if the run is not
    stopped ``grace`` seconds later (the main thread busy elsewhere, e.g. in Ray calls to a local
    Ray that the same SIGTERM to the process group stopped), the main thread is interrupted where
    it is, as by a second signal. While the stop is recorded, further signals are ignored (only
    SIGKILL cuts that short). Tune's own SIGINT handler is off (``init_ray``), and Ray's SIGTERM
    handler (``sys.exit``) is replaced for that time.

    Signals reach only the main thread: a run in another thread keeps the handlers it has."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    timers: list[threading.Timer] = []

    def force() -> None:
        if not stop.closing and stop.signum is not None:
            _thread.interrupt_main(stop.signum)  # runs `handler` in the main thread, which raises

    def handler(signum: int, frame: Any) -> None:
        if stop.closing:
            return
        if stop.requested:
            raise RunInterrupted(stop.signum or signum)
        stop.request(signum)
        timers.append(threading.Timer(grace, force))
        timers[-1].daemon = True
        timers[-1].start()

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        stop.closing = True
        for timer in timers:
            timer.cancel()
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
