"""What a paired verdict says beside the win rate: the typical (median) paired difference over
the units where both arms completed, with the distribution-free interval of
``scipy.stats.quantile_test`` (none from fewer than 6 pairs), and each arm's downside: on how
many units it did not complete while the other did, on how many it fell below the other and by
how much at worst. :func:`lorasweep.analysis.paired.paired_verdict` never names an arm better
without its downside in the same sentence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from lorasweep import formatting
from lorasweep.analysis.sign_test import ALPHA, MIN_UNITS_FIXED, Pair
from lorasweep.metrics import Direction

__all__ = ["Downside", "MedianDifference", "downside", "median_difference"]


@dataclass(frozen=True, kw_only=True)
class MedianDifference:
    """The median of ``a - b`` over the pairs where both completed, with the distribution-free
    interval of the median (order statistics, ``scipy.stats.quantile_test``). ``lo``/``hi`` are
    None when no such interval exists at this ``n`` (fewer than 6 pairs at 95 %)."""

    median: float | None
    lo: float | None
    hi: float | None
    n: int
    confidence: float = 1 - ALPHA

    def as_dict(self) -> dict[str, Any]:
        ci = None if self.lo is None or self.hi is None else [self.lo, self.hi]
        return {"median": self.median, "ci": ci, "n": self.n, "confidence": self.confidence}

    def describe(self, name_a: str, name_b: str, metric: str) -> str:
        """E.g. ``"median accuracy difference (a - b) 0.012 [0.004, 0.02] over 8 seeds where both completed"``."""
        if self.median is None:
            return f"no seed where both {name_a} and {name_b} completed, so no typical difference"
        q = formatting.metric(metric)
        ci = (
            f" [{q.signed(self.lo)}, {q.signed(self.hi)}]"
            if self.lo is not None and self.hi is not None
            else f" (no {self.confidence * 100:.3g} % interval from fewer than {MIN_UNITS_FIXED} pairs)"
        )
        return (
            f"median {metric} difference ({name_a} - {name_b}) {q.signed(self.median)}{ci} "
            f"over {self.n} pair{'s' * (self.n != 1)} where both completed"
        )


def median_difference(pairs: Sequence[Pair], confidence: float = 1 - ALPHA) -> MedianDifference:
    """The typical paired difference ``a - b`` (see :class:`MedianDifference`)."""
    d = np.array([p.a - p.b for p in pairs if p.a is not None and p.b is not None], dtype=float)
    if d.size == 0:
        return MedianDifference(median=None, lo=None, hi=None, n=0, confidence=confidence)
    med = float(np.median(d))
    ci = stats.quantile_test(d, q=med, p=0.5).confidence_interval(confidence)
    lo, hi = float(ci.low), float(ci.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = None  # type: ignore[assignment]
    return MedianDifference(median=med, lo=lo, hi=hi, n=int(d.size), confidence=confidence)


@dataclass(frozen=True, kw_only=True)
class Downside:
    """One arm's bad outcomes against the other: units where it did not complete while the
    other did, units where both completed and it did worse, and the largest shortfall."""

    name: str
    n: int  # pairs looked at
    failed: int  # did not complete while the other did
    worse: int  # completed, and worse than the other
    worst_shortfall: float | None  # the largest amount it fell below the other (in the metric's favour, > 0)

    @property
    def any(self) -> bool:
        return bool(self.failed or self.worse)

    def describe(self, other: str, metric: str, unit: str = "seed") -> str:
        """E.g. ``"lr_only did not complete on 1 of 10 seeds and fell below lora_alpha on 2, by up
        to 0.085 accuracy"``; "" when it has no downside."""
        parts = []
        if self.failed:
            parts.append(f"did not complete on {self.failed} of {self.n} {unit}s where {other} did")
        if self.worse:
            of = "" if self.failed else f" of {self.n}"
            most = formatting.metric(metric).amount(self.worst_shortfall or 0)
            parts.append(f"fell below {other} on {self.worse}{of} by up to {most} {metric}")
        return f"{self.name} " + " and ".join(parts) if parts else ""

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "failed": self.failed, "worse": self.worse, "worst_shortfall": self.worst_shortfall}


def downside(pairs: Sequence[Pair], direction: Direction, arm: str, name: str) -> Downside:
    """``arm``'s (``"a"`` or ``"b"``) downside against the other arm over ``pairs``."""
    if arm not in ("a", "b"):
        raise ValueError(f"arm must be 'a' or 'b', got {arm!r}")
    failed = worse = 0
    worst: float | None = None
    for p in pairs:
        mine, theirs = (p.a, p.b) if arm == "a" else (p.b, p.a)
        if mine is None and theirs is not None:
            failed += 1
        elif mine is not None and theirs is not None and direction.better(theirs, mine):
            worse += 1
            short = abs(theirs - mine)
            worst = short if worst is None else max(worst, short)
    return Downside(name=name, n=len(pairs), failed=failed, worse=worse, worst_shortfall=worst)
