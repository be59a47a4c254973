"""Metrics and their directions: what a trial can report, and which way is better.

A metric name means one thing everywhere (the store keeps a study's metric and direction, reports
compare values across studies), so each name is registered once with its direction
(:func:`define_metric`, as lm-evaluation-harness's ``register_metric(..., higher_is_better=...)``);
task kinds declare which of them they report (:mod:`lorasweep.kinds`). This module imports nothing
heavy and nothing of the config, so the store can use :class:`Direction` without either.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from lorasweep.registry import Registry

T = TypeVar("T")

__all__ = [
    "ACCURACY",
    "EVAL_LOSS",
    "EXACT_MATCH",
    "F1",
    "METRICS",
    "PERPLEXITY",
    "Direction",
    "Metric",
    "define_metric",
    "metric",
]


class Direction(enum.StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self is Direction.MAXIMIZE else a < b

    def best(self, values: Iterable[float]) -> float | None:
        """The best of ``values`` (None if there are none)."""
        values = list(values)
        if not values:
            return None
        return max(values) if self is Direction.MAXIMIZE else min(values)

    def worst(self, values: Iterable[float]) -> float | None:
        """The worst of ``values`` (None if there are none)."""
        return Direction.MINIMIZE.best(values) if self is Direction.MAXIMIZE else Direction.MAXIMIZE.best(values)

    def sort_key(self, value: float) -> float:
        """A key under which ascending order is best first (``-value`` when maximizing)."""
        return -value if self is Direction.MAXIMIZE else value

    def sorted(self, items: Iterable[T], key: Callable[[T], float]) -> list[T]:
        """``items`` best first by ``key``; ties keep their order (a stable sort)."""
        return sorted(items, key=lambda item: self.sort_key(key(item)))

    @property
    def ray_mode(self) -> str:
        return "max" if self is Direction.MAXIMIZE else "min"


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One metric a trial can report: its name (the key in a trial's report), its direction, and
    how people read it — its label (``"Accuracy"``) and number format (``fixed`` with 3 digits
    reads ``0.912``; see :class:`lorasweep.formatting.Quantity`). Declared once, by the task kind
    that reports it; every output (tables, charts, notes) labels and formats it from here."""

    name: str
    direction: Direction
    description: str = ""
    #: the human label; empty: the name, capitalized, with spaces for underscores
    label: str = ""
    #: number format: ``fixed`` (digits after the point), ``sci``, ``general`` (significant digits), ``int``
    notation: Literal["fixed", "sci", "general", "int"] = "general"
    digits: int = 4

    @property
    def title(self) -> str:
        """The label people read (the declared one, or one made from the name)."""
        return self.label or self.name.replace("_", " ").capitalize()


#: Every metric by name (each task kind registers the ones it reports).
METRICS: Registry[Metric] = Registry("metric")


def define_metric(name: str | Metric, direction: Direction | None = None, description: str = "", **how: Any) -> Metric:
    """Register a metric (a :class:`Metric`, or its name, direction, description and format
    fields); the same name with another direction is an error (a name means one thing). The
    first registration of a name is the one kept."""
    if isinstance(name, Metric):
        m = name
    else:
        if direction is None:
            raise TypeError(f"define_metric({name!r}): give its direction")
        m = Metric(name=name, direction=direction, description=description, **how)
    name, direction = m.name, m.direction
    if name in METRICS and METRICS.get(name).direction != direction:
        raise ValueError(
            f"metric '{name}' is already registered to {METRICS.get(name).direction.value}; "
            f"a metric that is to {direction.value} needs another name"
        )
    if name in METRICS:
        return METRICS.get(name)
    return METRICS.register(name, m)


def metric(name: str) -> Metric:
    """The registered metric ``name`` (an error listing the valid names otherwise)."""
    return METRICS.get(name)


ACCURACY = define_metric(
    "accuracy", Direction.MAXIMIZE, "fraction of eval examples classified right", notation="fixed", digits=3
)
F1 = define_metric("f1", Direction.MAXIMIZE, "macro F1 over the labels", label="F1", notation="fixed", digits=3)
EVAL_LOSS = define_metric("eval_loss", Direction.MINIMIZE, "mean loss on the eval split", notation="fixed", digits=4)
PERPLEXITY = define_metric(
    "perplexity", Direction.MINIMIZE, "exp(eval_loss) per completion token", notation="fixed", digits=2
)
EXACT_MATCH = define_metric(
    "exact_match", Direction.MAXIMIZE, "fraction of generations whose answer is right", notation="fixed", digits=3
)
