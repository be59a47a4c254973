"""A name → unit registry: task kinds, samplers and metrics are each registered by one call in the
module that defines them, and an unknown name is an error that lists the valid ones.

It depends on nothing else in lorasweep, so any layer can hold one: the config holds the task
kinds' and the samplers' registries (to validate names without importing the code behind them),
and :mod:`lorasweep.metrics` holds the metrics'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class UnknownNameError(LookupError, ValueError):
    """A name that is not registered. A ValueError too, so that pydantic validators that look a
    name up turn it into a validation error naming the field."""


class Registry(Generic[T]):
    """Units by name. ``what`` names one unit in messages ("task kind", "sampler")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` as ``name``. Registering the same item again is a no-op (a module imported
        twice); another item under a taken name is an error."""
        if not name or not name.isidentifier():
            raise ValueError(f"{self.what} name {name!r} must be a Python identifier (letters, digits, '_')")
        if name in self._items and self._items[name] != item:
            raise ValueError(
                f"{self.what} '{name}' is already registered (by {self._items[name]!r}); pick another name"
            )
        self._items[name] = item
        return item

    def add(self, name: str) -> Callable[[U], U]:
        """Decorator form of :meth:`register`: ``@SAMPLERS.add("tpe")``."""

        def decorate(item: U) -> U:
            self.register(name, item)  # type: ignore[arg-type]
            return item

        return decorate

    def remove(self, name: str) -> None:
        """Drop ``name`` (tests that register a unit of their own clean up with this)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """The unit called ``name``; an unknown name raises an error that lists the valid ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"unknown {self.what} {name!r}; valid {self.what}s: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
