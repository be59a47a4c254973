"""Errors lorasweep shows to people.

Every error a user can fix derives from :class:`LorasweepError`; the CLI prints its message as one
line and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LorasweepError(Exception):
    """Bad input or environment: the message names what is wrong and how to fix it."""

    #: the CLI's exit status
    exit_code = 2


class ConfigError(LorasweepError):
    """An experiment, space or task file (or a CLI override) is invalid."""


class StorageError(LorasweepError):
    """The database cannot be reached, is not a lorasweep database, or lacks what was asked for."""


class SearchFailedError(LorasweepError):
    """A search ran but no trial completed (each raised): the run is stored, the command fails."""

    exit_code = 1


class SearchInterrupted(LorasweepError):
    """A search stopped by a signal (SIGINT, SIGTERM, ``ray job stop``): its running trials are
    recorded as interrupted and the experiment can be resumed. The CLI prints the message (how to
    resume) as it is and exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
