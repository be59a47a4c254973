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
