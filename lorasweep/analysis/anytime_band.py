"""Anytime curves over repeated searches: each repeat's best value so far (against its own
cumulative device-seconds, or against its number of finished trials), summarized per space as the
median over repeats with the interquartile range (:func:`band`).

A repeat that has no complete trial yet counts as the worst outcome there (it has found nothing),
never as missing, so the median does not drift up as failing repeats drop out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lorasweep.config import Direction
from lorasweep.cost import worst_value

__all__ = ["BAND_POINTS", "BAND_QUANTILES", "Band", "band", "cost_grid"]

#: The band drawn around the median over repeats: the interquartile range.
BAND_QUANTILES = (0.25, 0.5, 0.75)
#: Points on the device-seconds axis of a band (the trials axis has one per trial).
BAND_POINTS = 120


@dataclass(frozen=True, kw_only=True)
class Band:
    """The median over repeats with its band (``BAND_QUANTILES``) at each ``x``; None where not
    yet half the repeats had a value (the median is "nothing found yet")."""

    x: tuple[float, ...]
    lo: tuple[float | None, ...]
    median: tuple[float | None, ...]
    hi: tuple[float | None, ...]
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "lo": list(self.lo), "median": list(self.median), "hi": list(self.hi), "n": self.n}


def _worst(direction: Direction) -> float:
    return worst_value(direction)


def _quantiles(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """``BAND_QUANTILES`` of ``values`` (the worst infinity where a repeat has nothing yet), taken
    as observed values (no interpolation across an infinity); an infinite quantile is None. For a
    minimized metric the lower band is the better side, so quantiles are of the values as they
    are: lo ≤ median ≤ hi in the metric's units either way."""
    qs = np.quantile(values, BAND_QUANTILES, method="inverted_cdf")
    out = [float(q) if math.isfinite(q) else None for q in qs]
    return out[0], out[1], out[2]


def _step_at(curve: Sequence[tuple[float, float | None]], x: float, worst: float) -> float:
    """The best value a repeat had after spending ``x`` (worst before it had one)."""
    value = worst
    for spent, best in curve:
        if spent > x:
            break
        if best is not None:
            value = best
    return value


def band(curves: Sequence[Sequence[tuple[float, float | None]]], xs: Sequence[float], direction: Direction) -> Band:
    """The median and interquartile band over ``curves`` (each ``(x, best so far)`` after each
    finished trial, x increasing) at every point of ``xs``."""
    worst = _worst(direction)
    lo, med, hi = [], [], []
    for x in xs:
        values = np.array([_step_at(c, x, worst) for c in curves], dtype=float)
        q = _quantiles(values) if len(values) else (None, None, None)
        lo.append(q[0])
        med.append(q[1])
        hi.append(q[2])
    return Band(x=tuple(float(x) for x in xs), lo=tuple(lo), median=tuple(med), hi=tuple(hi), n=len(curves))


def cost_grid(curves: Sequence[Sequence[tuple[float, float | None]]]) -> list[float]:
    """Device-seconds at which the bands are read: every point where some repeat's best could
    change, thinned to ``BAND_POINTS`` evenly spaced ones (the last kept)."""
    xs = sorted({c for curve in curves for c, _ in curve})
    if len(xs) <= BAND_POINTS:
        return xs
    top = xs[-1]
    return sorted({top * (i + 1) / BAND_POINTS for i in range(BAND_POINTS)} | {top})
