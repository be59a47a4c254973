"""The α*–rank law ``α* = c · r^p``: a log-log least-squares fit with bootstrap intervals.

``α*`` is the best LoRA factor α found at LoRA rank ``r``. Fitting ``log α* = log c + p · log r``
over several ranks (and seeds) tells which scaling rule the data supports; :data:`REFERENCE_LAWS`
lists the usual candidates to print next to a fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lorasweep.analysis.stats import finite_vector

__all__ = ["REFERENCE_LAWS", "LawFit", "ReferenceLaw", "fit_power_law"]


@dataclass(frozen=True)
class ReferenceLaw:
    """A named reference law ``α = c · r^p``; ``c`` is ``None`` when only the exponent is fixed."""

    name: str
    c: float | None
    p: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"name": ..., "c": ..., "p": ...}``."""
        return {"name": self.name, "c": self.c, "p": self.p}


REFERENCE_LAWS: tuple[ReferenceLaw, ...] = (
    ReferenceLaw("alpha = r", 1.0, 1.0),
    ReferenceLaw("alpha = 2r", 2.0, 1.0),
    ReferenceLaw("rsLoRA alpha ∝ sqrt(r)", None, 0.5),
    ReferenceLaw("paper: alpha = 256·sqrt(r)", 256.0, 0.5),
)
"""Laws to show next to a fit: the classic ``α = r`` / ``α = 2r`` and the ``sqrt(r)`` family."""


@dataclass(frozen=True)
class LawFit:
    """A fitted ``α* = c · r^p`` with percentile-bootstrap intervals from ``n`` (rank, α*) pairs."""

    c: float
    p: float
    c_ci: tuple[float, float]
    p_ci: tuple[float, float]
    n: int
    #: bootstrap resamples of (log c, p), for prediction intervals
    boot: np.ndarray | None = field(default=None, repr=False, compare=False)

    def predict_ci(self, rank: float, confidence: float = 0.95) -> tuple[float, float]:
        """Percentile-bootstrap interval of the predicted ``α*`` at ``rank``."""
        if self.boot is None:
            raise ValueError("this fit kept no bootstrap resamples")
        self.predict(rank)  # validates rank
        values = np.exp(self.boot[:, 0] + self.boot[:, 1] * np.log(float(rank)))
        tail = (1.0 - confidence) / 2.0
        lo, hi = np.quantile(values, [tail, 1.0 - tail])
        return float(lo), float(hi)

    def contains_p(self, value: float) -> bool:
        """Whether the exponent ``value`` lies inside the interval ``p_ci`` (inclusive)."""
        return self.p_ci[0] <= value <= self.p_ci[1]

    def predict(self, rank: float) -> float:
        """Predicted ``α*`` at ``rank`` (must be > 0): ``c · rank^p``."""
        try:
            r = float(rank)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rank must be a number, got {rank!r}") from exc
        if not (np.isfinite(r) and r > 0):
            raise ValueError(f"rank must be a finite number > 0, got {rank!r}")
        return float(self.c * r**self.p)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"c", "c_ci": [lo, hi], "p", "p_ci": [lo, hi], "n"}``."""
        return {"c": self.c, "c_ci": list(self.c_ci), "p": self.p, "p_ci": list(self.p_ci), "n": self.n}


def _positive_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array of finite positive numbers, or raise ValueError."""
    if np.size(values) == 0:  # the caller says how many points a fit needs
        return np.empty(0)
    arr = finite_vector(values, name)
    bad = arr[arr <= 0]
    if bad.size:
        raise ValueError(f"{name} must all be finite and > 0 (the fit is in log space), got {bad.tolist()}")
    return arr


def _slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise least-squares ``y = a + b·x``; returns ``(a, b)`` for each row of 2-D ``x``, ``y``."""
    xm = x.mean(axis=-1, keepdims=True)
    ym = y.mean(axis=-1, keepdims=True)
    dx = x - xm
    slope = (dx * (y - ym)).sum(axis=-1) / (dx * dx).sum(axis=-1)
    intercept = ym[..., 0] - slope * xm[..., 0]
    return intercept, slope


def fit_power_law(
    ranks: ArrayLike,
    alphas: ArrayLike,
    confidence: float = 0.95,
    n_boot: int = 5_000,
    seed: int | np.random.Generator = 0,
) -> LawFit:
    """Fit ``α* = c · r^p`` by least squares of ``log α* = log c + p · log r``.

    Repeated ranks (several seeds per rank) are allowed and each pair counts once. The intervals
    are percentile-bootstrap intervals from resampling (rank, α*) pairs with replacement;
    resamples with fewer than 2 distinct ranks have no slope and are skipped.

    Args:
        ranks: LoRA rank of each observation (> 0).
        alphas: best α found at that rank (> 0), same length as ``ranks``.
        confidence: nominal coverage of the intervals, in (0, 1).
        n_boot: number of bootstrap resamples.
        seed: an ``int`` seed or a :class:`numpy.random.Generator`.

    Raises:
        ValueError: if the inputs are not positive and finite, differ in length, cover fewer
            than 2 distinct ranks, or if ``confidence`` / ``n_boot`` are out of range.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    r = _positive_vector(ranks, "ranks")
    a = _positive_vector(alphas, "alphas")
    if r.size != a.size:
        raise ValueError(f"ranks and alphas must have the same length, got len(ranks)={r.size}, len(alphas)={a.size}")
    distinct = np.unique(r)
    if distinct.size < 2:
        raise ValueError(f"need alpha* for at least 2 distinct ranks, got {distinct.size} ({distinct.tolist()})")

    x, y = np.log(r), np.log(a)
    log_c, p = _slopes(x[None, :], y[None, :])

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r.size, size=(n_boot, r.size))
    rx = x[idx]
    ok = rx.min(axis=1) < rx.max(axis=1)  # at least 2 distinct ranks
    if not ok.any():
        raise ValueError(f"no bootstrap resample had 2 distinct ranks; increase n_boot (got {n_boot})")
    boot_log_c, boot_p = _slopes(rx[ok], y[idx[ok]])
    tail = (1.0 - confidence) / 2.0
    q = [tail, 1.0 - tail]
    p_lo, p_hi = np.quantile(boot_p, q)
    c_lo, c_hi = np.exp(np.quantile(boot_log_c, q))
    return LawFit(
        c=float(np.exp(log_c[0])),
        p=float(p[0]),
        c_ci=(float(c_lo), float(c_hi)),
        p_ci=(float(p_lo), float(p_hi)),
        n=int(r.size),
        boot=np.stack([boot_log_c, boot_p], axis=1),
    )
