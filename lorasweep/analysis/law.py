"""The α*–rank law ``α* = c · r^p``: ordinary least squares in log space with t-intervals.

``α*`` is the best LoRA factor α found at LoRA rank ``r``. Fitting ``log α* = log c + p · log r``
over several ranks (and seeds) tells which scaling rule the data supports; :data:`REFERENCE_LAWS`
lists the usual candidates to print next to a fit.

Why OLS with t-intervals and not a bootstrap: a rank law rests on a handful of points (one α*
per rank, 3–5 ranks). A pairs bootstrap of so few points has no spread at 2 ranks and covers
the true exponent only ~65 % of the time at 3 ranks (``benchmarks/law_calibration.py``). With
log-normal noise on α* (errors normal in log space), the OLS slope and intercept divided by their
standard errors follow Student's t with ``n − 2`` degrees of freedom exactly, so the intervals
below hold their nominal coverage at any ``n ≥ 3`` — wide at 3 ranks, as they should be. With
``n = 2`` there is no residual left to measure the noise: a point estimate, no interval. When the
points lie exactly on a line in log space (zero residual variance, e.g. every rank's best at the
same grid point of matched ranges), the fit is exact and a t-interval is undefined: no interval
either (a zero-width one would claim a certainty the data cannot give). Every inside/outside
statement compares with a tolerance (:data:`P_TOLERANCE`), never float equality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

from lorasweep.analysis.stats import finite_vector

__all__ = ["P_TOLERANCE", "REFERENCE_LAWS", "LawFit", "ReferenceLaw", "fit_power_law"]

#: The exponents the usual rules imply: ``α ∝ r`` (α = r, 2r) and ``α ∝ √r`` (rsLoRA, the paper).
P_LINEAR, P_SQRT = 1.0, 0.5
#: Two exponents closer than this are the same exponent (p is reported to 3 decimals).
P_TOLERANCE = 1e-3
#: Residual standard error (in log α*) below this share of the spread of log r: the points lie on
#: a line to rounding, the fit is exact and no interval can be computed.
EXACT_FIT = 1e-9


@dataclass(frozen=True, kw_only=True)
class ReferenceLaw:
    """A named reference law ``α = c · r^p``; ``c`` is ``None`` when only the exponent is fixed."""

    name: str
    c: float | None
    p: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"name": ..., "c": ..., "p": ...}``."""
        return {"name": self.name, "c": self.c, "p": self.p}


REFERENCE_LAWS: tuple[ReferenceLaw, ...] = (
    ReferenceLaw(name="alpha = r", c=1.0, p=P_LINEAR),
    ReferenceLaw(name="alpha = 2r", c=2.0, p=P_LINEAR),
    ReferenceLaw(name="rsLoRA alpha ∝ sqrt(r)", c=None, p=P_SQRT),
    ReferenceLaw(name="paper: alpha = 256·sqrt(r)", c=256.0, p=P_SQRT),
)
"""Laws to show next to a fit: the classic ``α = r`` / ``α = 2r`` and the ``sqrt(r)`` family."""


@dataclass(frozen=True, kw_only=True)
class LawFit:
    """A fitted ``α* = c · r^p`` from ``n`` (rank, α*) pairs, by OLS of ``log α*`` on ``log r``.

    ``c_ci`` and ``p_ci`` are t-intervals on ``df = n − 2`` degrees of freedom; both are ``None``
    when ``n = 2`` (a point estimate) or when the fit is ``exact`` (zero residual variance).
    ``resid_se``, ``x_mean`` and ``sxx`` (residual standard
    error, mean of ``log r`` and its sum of squared deviations) give prediction intervals.
    """

    c: float
    p: float
    c_ci: tuple[float, float] | None
    p_ci: tuple[float, float] | None
    n: int
    confidence: float = 0.95
    resid_se: float | None = None
    x_mean: float | None = None
    sxx: float | None = None
    #: the points lie exactly on the fitted line (zero residual variance): no interval is defined
    exact: bool = False

    @property
    def df(self) -> int:
        """Residual degrees of freedom, ``n − 2``."""
        return self.n - 2

    @property
    def has_interval(self) -> bool:
        return self.p_ci is not None

    @property
    def interval_method(self) -> str:
        """How the intervals were computed, in words (shown in reports)."""
        if self.exact:
            return (
                f"none: the {self.n} points lie exactly on the fitted line (zero residual variance), so the fit is "
                "exact and a t-interval is undefined"
            )
        if not self.has_interval:
            return "none: 2 points give a point estimate only; fit 3 ranks or more for an interval"
        return f"OLS of log alpha* on log r, {self.confidence:.0%} t-interval on n - 2 = {self.df} df"

    def _t(self, confidence: float) -> float:
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        return float(scipy.stats.t.ppf(0.5 + confidence / 2.0, self.df))

    def predict_ci(self, rank: float, confidence: float | None = None) -> tuple[float, float]:
        """Prediction interval of ``α*`` found by a new search at ``rank``: in log space
        ``ŷ ± t · s · √(1 + 1/n + (log rank − x̄)² / Sxx)`` on ``n − 2`` df, then exponentiated.

        Raises:
            ValueError: if the fit has no interval (``n = 2``) or ``rank`` is not > 0.
        """
        centre = self.predict(rank)  # validates rank
        if not self.has_interval or self.resid_se is None or self.x_mean is None or not self.sxx:
            raise ValueError(f"a fit of {self.n} points has no interval; fit 3 ranks or more")
        x0 = math.log(float(rank))
        se = self.resid_se * math.sqrt(1.0 + 1.0 / self.n + (x0 - self.x_mean) ** 2 / self.sxx)
        half = self._t(self.confidence if confidence is None else confidence) * se
        return centre * math.exp(-half), centre * math.exp(half)

    def contains_p(self, value: float, tolerance: float = P_TOLERANCE) -> bool | None:
        """Whether the exponent ``value`` lies inside ``p_ci`` widened by ``tolerance`` on each side
        (so an estimate is never "outside" its own interval by rounding); None without an interval."""
        if self.p_ci is None:
            return None
        return self.p_ci[0] - tolerance <= value <= self.p_ci[1] + tolerance

    def p_equals(self, value: float, tolerance: float = P_TOLERANCE) -> bool:
        """Whether the fitted exponent is ``value`` within ``tolerance``."""
        return abs(self.p - value) <= tolerance

    @property
    def p_ambiguous(self) -> bool | None:
        """True when the interval holds both p = 0.5 and p = 1: too wide to tell the √r law from
        the linear one (None without an interval)."""
        if self.p_ci is None:
            return None
        return bool(self.contains_p(P_SQRT) and self.contains_p(P_LINEAR))

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
        """JSON-ready form: ``{"c", "c_ci", "p", "p_ci", "n", "df", "interval_method", "p_ambiguous"}``
        (``c_ci`` and ``p_ci`` are ``[lo, hi]`` or ``None``)."""
        return {
            "c": self.c,
            "c_ci": list(self.c_ci) if self.c_ci is not None else None,
            "p": self.p,
            "p_ci": list(self.p_ci) if self.p_ci is not None else None,
            "n": self.n,
            "df": self.df,
            "interval_method": self.interval_method,
            "p_ambiguous": self.p_ambiguous,
            "exact": self.exact,
        }


def _positive_vector(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array of finite positive numbers, or raise ValueError."""
    if np.size(values) == 0:  # the caller says how many points a fit needs
        return np.empty(0)
    arr = finite_vector(values, name)
    bad = arr[arr <= 0]
    if bad.size:
        raise ValueError(f"{name} must all be finite and > 0 (the fit is in log space), got {bad.tolist()}")
    return arr


def fit_power_law(ranks: ArrayLike, alphas: ArrayLike, confidence: float = 0.95) -> LawFit:
    """Fit ``α* = c · r^p`` by ordinary least squares of ``log α* = log c + p · log r``.

    Repeated ranks (several seeds per rank) are allowed and each pair counts once; the intervals
    assume the pairs are independent with normal errors in log space (log-normal α*). With
    ``n ≥ 3`` pairs, ``p_ci`` and ``c_ci`` are t-intervals on ``n − 2`` degrees of freedom from
    :func:`scipy.stats.linregress`'s standard errors; with ``n = 2`` they are ``None``.

    Args:
        ranks: LoRA rank of each observation (> 0).
        alphas: best α found at that rank (> 0), same length as ``ranks``.
        confidence: nominal coverage of the intervals, in (0, 1).

    Raises:
        ValueError: if the inputs are not positive and finite, differ in length, cover fewer
            than 2 distinct ranks, or if ``confidence`` is out of range.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    r = _positive_vector(ranks, "ranks")
    a = _positive_vector(alphas, "alphas")
    if r.size != a.size:
        raise ValueError(f"ranks and alphas must have the same length, got len(ranks)={r.size}, len(alphas)={a.size}")
    distinct = np.unique(r)
    if distinct.size < 2:
        raise ValueError(f"need alpha* for at least 2 distinct ranks, got {distinct.size} ({distinct.tolist()})")

    x, y = np.log(r), np.log(a)
    res = scipy.stats.linregress(x, y)
    p, log_c = float(res.slope), float(res.intercept)
    n = int(r.size)
    if n < 3:
        return LawFit(c=math.exp(log_c), p=p, c_ci=None, p_ci=None, n=n, confidence=confidence)
    df = n - 2
    resid = y - (log_c + p * x)
    resid_se = math.sqrt(float(resid @ resid) / df)
    x_mean = float(x.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    if resid_se <= EXACT_FIT * max(1.0, float(np.abs(y).max())) * max(1.0, math.sqrt(sxx)):
        return LawFit(
            c=math.exp(log_c),
            p=p,
            c_ci=None,
            p_ci=None,
            n=n,
            confidence=confidence,
            resid_se=0.0,
            x_mean=x_mean,
            sxx=sxx,
            exact=True,
        )
    t = float(scipy.stats.t.ppf(0.5 + confidence / 2.0, df))
    p_half, c_half = t * float(res.stderr), t * float(res.intercept_stderr)
    return LawFit(
        c=math.exp(log_c),
        p=p,
        c_ci=(math.exp(log_c - c_half), math.exp(log_c + c_half)),
        p_ci=(p - p_half, p + p_half),
        n=n,
        confidence=confidence,
        resid_se=resid_se,
        x_mean=x_mean,
        sxx=sxx,
    )
