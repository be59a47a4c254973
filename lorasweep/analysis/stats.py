"""Bootstrap intervals for comparing two search spaces over several seeds.

Everything here is a pure function of its inputs: randomness comes from an explicit ``seed``
(an ``int`` or a :class:`numpy.random.Generator`), never from global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Interval", "bootstrap_mean", "paired_difference", "verdict"]

Direction = Literal["maximize", "minimize"]
Seed = int | np.random.Generator


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval ``[lo, hi]`` computed from ``n`` samples."""

    mean: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"mean": ..., "ci": [lo, hi], "n": ...}``."""
        return {"mean": self.mean, "ci": [self.lo, self.hi], "n": self.n}


def finite_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; need at least one value")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} must be finite, got {bad.tolist()}")
    return arr


def _check_bootstrap_args(confidence: float, n_boot: int) -> None:
    """Validate the options shared by the bootstrap functions."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")


def _bootstrap(x: np.ndarray, confidence: float, n_boot: int, seed: Seed) -> Interval:
    """Percentile bootstrap of the mean of an already validated 1-D array."""
    n = int(x.size)
    mean = float(np.mean(x))
    if n == 1:
        return Interval(mean=mean, lo=mean, hi=mean, n=1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = x[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return Interval(mean=mean, lo=float(lo), hi=float(hi), n=n)


def bootstrap_mean(
    values: ArrayLike,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: Seed = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval for the mean of ``values``.

    Args:
        values: one number per seed; must be non-empty and finite.
        confidence: nominal coverage of the interval, in (0, 1).
        n_boot: number of bootstrap resamples.
        seed: an ``int`` seed or a :class:`numpy.random.Generator`.

    Returns:
        The sample mean and the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
        of the resampled means. With a single value there is nothing to resample, so the
        interval is degenerate: ``lo == hi == mean`` (it says nothing about uncertainty).

    Raises:
        ValueError: if ``values`` is empty, not 1-D or has non-finite entries, or if
            ``confidence`` / ``n_boot`` are out of range.
    """
    _check_bootstrap_args(confidence, n_boot)
    x = finite_vector(values, "values")
    return _bootstrap(x, confidence, n_boot, seed)


def paired_difference(
    a: ArrayLike,
    b: ArrayLike,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: Seed = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval for ``mean(a_i - b_i)`` over paired samples.

    ``a[i]`` and ``b[i]`` must come from the same seed; pairs are resampled together, so the
    seed-to-seed variation shared by both arms cancels. With one pair the interval is
    degenerate (``lo == hi == mean``).

    Raises:
        ValueError: if ``a`` or ``b`` is empty or non-finite, if their lengths differ, or if
            ``confidence`` / ``n_boot`` are out of range.
    """
    _check_bootstrap_args(confidence, n_boot)
    xa = finite_vector(a, "a")
    xb = finite_vector(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"a and b must be paired (same length), got len(a)={xa.size} and len(b)={xb.size}")
    return _bootstrap(xa - xb, confidence, n_boot, seed)


def verdict(diff: Interval, name_a: str, name_b: str, direction: str, metric: str) -> str:
    """One-line, human-readable conclusion from ``diff``, an interval for ``mean(a - b)``.

    A side is called better only when the interval excludes 0 and at least two seeds were
    used. The winner's advantage is reported as a positive amount with its interval in the
    same units (for ``b`` that is ``b - a``: signs flipped, ``lo``/``hi`` swapped; for
    ``minimize`` the advantage is the reduction of the metric).

    Args:
        diff: interval for ``mean(a - b)``, e.g. from :func:`paired_difference`.
        name_a: display name of arm ``a``.
        name_b: display name of arm ``b``.
        direction: ``"maximize"`` or ``"minimize"`` (whether larger ``metric`` is better).
        metric: display name of the metric, appended to the sentence.

    Raises:
        ValueError: if ``direction`` is neither ``"maximize"`` nor ``"minimize"``.
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    if diff.n < 2:
        return f"no clear difference between {name_a} and {name_b} (too few seeds: n={diff.n})"
    if diff.lo > 0 or diff.hi < 0:
        a_ahead = diff.lo > 0  # a's metric is larger than b's
        a_wins = a_ahead == (direction == "maximize")
        winner = name_a if a_wins else name_b
        # Advantage of the winner, always positive: flip (a - b) when the winner's metric is smaller.
        if a_ahead:
            mean, lo, hi = diff.mean, diff.lo, diff.hi
        else:
            mean, lo, hi = -diff.mean, -diff.hi, -diff.lo
        return f"{winner} better by {abs(mean):.4g} [{lo:.4g}, {hi:.4g}] {metric}"
    return (
        f"no clear difference between {name_a} and {name_b} "
        f"({metric} difference {diff.mean:.4g} [{diff.lo:.4g}, {diff.hi:.4g}])"
    )
