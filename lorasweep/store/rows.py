"""Rows to records: the store's ORM rows and Core rows become the frozen, keyword-only records of
:mod:`lorasweep.store.records` (callers never see a row)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any


def now() -> dt.datetime:
    """The time a row is written at, in UTC."""
    return dt.datetime.now(dt.UTC)


def utc(value: Any) -> Any:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@functools.cache
def fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def record(cls: type, row: Any) -> Any:
    """A ``cls`` record from an ORM row with the same attribute names."""
    return cls(**{name: utc(getattr(row, name)) for name in fields(cls)})


def columns(cls: type, table: Any) -> list[Any]:
    """``table``'s columns that make a ``cls`` record, in the record's field order: a Core select
    of them gives rows that :func:`from_row` turns into records, without loading ORM objects
    (reports hold many rows)."""
    return [table.c[name] for name in fields(cls)]


def from_row(cls: type, row: Any) -> Any:
    """A record (keyword-only) from a row of :func:`columns`."""
    return cls(**dict(zip(fields(cls), map(utc, row), strict=True)))
