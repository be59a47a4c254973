"""t-intervals and the verdict for comparing two search spaces over several seeds.

Two spaces' re-runs on the same training seed share that seed's luck (data order, init), so the
comparison is paired: the differences ``d_i = a_i - b_i`` cancel the shared part, and the paired
t-interval of their mean has its nominal false-positive rate at 3–10 seeds when the ``d_i`` are
roughly normal. (The percentile bootstrap used before called a winner 25 % of the time at 3
seeds under the null: it is too narrow when there are few values to resample;
``benchmarks/verdict_calibration.py`` compares the two.)

Everything here is a pure function of its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

__all__ = [
    "CONFIDENCE",
    "MIN_SEEDS",
    "POWER",
    "Interval",
    "Verdict",
    "mean_interval",
    "paired_difference",
    "paired_t_power",
    "seeds_to_detect",
    "t_quantile",
    "verdict",
]

#: Nominal coverage of every interval here (1 - the verdict's false-positive rate).
CONFIDENCE = 0.95
#: Paired seeds needed for any verdict: with 2 the t-interval has 1 degree of freedom (its 95 %
#: half-width is 12.7 standard errors) and one unlucky pair decides it.
MIN_SEEDS = 3
#: Power at which :func:`seeds_to_detect` counts a difference as detectable.
POWER = 0.8
#: :func:`seeds_to_detect` gives up above this many seeds.
MAX_SEEDS = 10_000


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A mean with its ``confidence`` interval ``[lo, hi]`` from ``n`` values.

    ``lo``/``hi`` are None when there is no interval (fewer than 2 values); ``sd`` is the values'
    sample standard deviation (None with fewer than 2)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int
    sd: float | None = None
    confidence: float = CONFIDENCE
    method: str = "t-interval"

    @property
    def label(self) -> str:
        """How it was computed, e.g. ``"paired t-interval, 95 %, n = 5"``."""
        return f"{self.method}, {self.confidence * 100:.3g} %, n = {self.n}"

    def excludes_zero(self) -> bool:
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"mean", "ci": [lo, hi] or None, "n", "sd", "confidence", "method"}``."""
        ci = None if self.lo is None or self.hi is None else [self.lo, self.hi]
        return {
            "mean": self.mean,
            "ci": ci,
            "n": self.n,
            "sd": self.sd,
            "confidence": self.confidence,
            "method": self.method,
        }


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


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def t_quantile(confidence: float, df: float | np.ndarray) -> float | np.ndarray:
    """The two-sided ``confidence`` critical value of Student's t with ``df`` degrees of freedom
    (``scipy.stats.t.ppf(1 - (1 - confidence) / 2, df)``, through the ufunc it wraps: the
    verdict's calibration check calls this tens of thousands of times)."""
    return special.stdtrit(df, 1 - (1 - confidence) / 2)


def _interval(x: np.ndarray, confidence: float, method: str) -> Interval:
    """t-interval of the mean of an already validated 1-D array."""
    n = int(x.size)
    mean = float(np.mean(x))
    if n < 2:
        return Interval(mean=mean, lo=None, hi=None, n=n, sd=None, confidence=confidence, method=method)
    sd = float(np.std(x, ddof=1))
    if sd == 0.0:  # every value equal: no spread to scale the t quantile by
        return Interval(mean=mean, lo=mean, hi=mean, n=n, sd=0.0, confidence=confidence, method=method)
    half = float(t_quantile(confidence, n - 1)) * sd / math.sqrt(n)
    return Interval(mean=mean, lo=mean - half, hi=mean + half, n=n, sd=sd, confidence=confidence, method=method)


def mean_interval(values: ArrayLike, confidence: float = CONFIDENCE) -> Interval:
    """Student-t confidence interval for the mean of ``values`` (one number per seed).

    With one value there is no interval (``lo`` and ``hi`` are None).

    Raises:
        ValueError: if ``values`` is empty, not 1-D or has non-finite entries, or if
            ``confidence`` is not in (0, 1).
    """
    _check_confidence(confidence)
    return _interval(finite_vector(values, "values"), confidence, "t-interval")


def paired_difference(a: ArrayLike, b: ArrayLike, confidence: float = CONFIDENCE) -> Interval:
    """Paired t-interval for ``mean(a_i - b_i)``: the interval of ``scipy.stats.ttest_rel(a, b)``,
    whose test rejects "no difference" exactly when the interval excludes 0.

    ``a[i]`` and ``b[i]`` must come from the same seed, so the seed-to-seed variation shared by
    both arms cancels. With one pair there is no interval; with differences that are all equal
    the interval is that value.

    Raises:
        ValueError: if ``a`` or ``b`` is empty or non-finite, if their lengths differ, or if
            ``confidence`` is not in (0, 1).
    """
    _check_confidence(confidence)
    xa = finite_vector(a, "a")
    xb = finite_vector(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"a and b must be paired (same length), got len(a)={xa.size} and len(b)={xb.size}")
    return _interval(xa - xb, confidence, "paired t-interval")


def paired_t_power(effect: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Power of the two-sided paired t-test at level ``1 - confidence`` with ``n`` pairs, for a
    true standardized effect ``effect = mean(d) / sd(d)``: P(|T| > t_crit) with T noncentral t
    (``n - 1`` degrees of freedom, noncentrality ``effect·√n``): ``scipy.stats.nct.sf(crit, df,
    nc) + scipy.stats.nct.cdf(-crit, df, nc)``, through the ufunc ``scipy.special.nctdtr`` (50
    times faster: the calibration test runs thousands of verdicts) where that one is defined."""
    df = n - 1
    crit = float(t_quantile(confidence, df))
    nc = effect * math.sqrt(n)
    upper = 1.0 - float(special.nctdtr(df, nc, crit))
    lower = float(special.nctdtr(df, nc, -crit))
    if not (math.isfinite(upper) and math.isfinite(lower)):  # nctdtr gives NaN far in a tail
        upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
    return upper + lower


def seeds_to_detect(
    diff: Interval, power: float = POWER, confidence: float = CONFIDENCE, max_n: int = MAX_SEEDS
) -> int | None:
    """About how many paired seeds would detect a true difference of ``diff.mean`` with
    ``power``, if the differences' SD were ``diff.sd``: the smallest ``n >= MIN_SEEDS`` at which
    :func:`paired_t_power` reaches ``power``. None when it cannot be said (no SD, a zero mean or
    SD) or it is above ``max_n``."""
    if diff.sd is None or diff.sd == 0.0 or diff.mean == 0.0:
        return None
    effect = abs(diff.mean) / diff.sd
    if paired_t_power(effect, max_n, confidence) < power:
        return None
    # Start from the z-test's n (the t-test needs a little more) and walk: power grows with n.
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    n = min(max_n, max(MIN_SEEDS, math.floor((z / effect) ** 2)))
    while n > MIN_SEEDS and paired_t_power(effect, n - 1, confidence) >= power:
        n -= 1
    while paired_t_power(effect, n, confidence) < power:
        n += 1
    return n


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The conclusion from an interval for ``mean(a - b)``."""

    winner: str | None  # the space named better, or None
    text: str
    #: with too few seeds: the minimum; when undecided: about how many would detect the observed
    #: difference (None: not computable, or above MAX_SEEDS); when decided: None
    seeds_needed: int | None


def verdict(diff: Interval, name_a: str, name_b: str, direction: str, metric: str) -> Verdict:
    """The conclusion from ``diff``, an interval for ``mean(a - b)`` over paired seeds.

    A side is called better only when ``diff.n >= MIN_SEEDS`` and the interval excludes 0. The
    winner's advantage is reported as a positive amount with its interval in the same units (for
    ``b`` that is ``b - a``: signs flipped, ``lo``/``hi`` swapped; for ``minimize`` the advantage
    is the reduction of the metric). When the interval includes 0, the text says about how many
    seeds would detect the observed difference (:func:`seeds_to_detect`).

    Raises:
        ValueError: if ``direction`` is neither ``"maximize"`` nor ``"minimize"``.
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    if diff.n < MIN_SEEDS or diff.lo is None or diff.hi is None:
        more = MIN_SEEDS - diff.n
        return Verdict(
            winner=None,
            text=f"no verdict possible between {name_a} and {name_b} from {diff.n} paired seed{'s' * (diff.n != 1)}: "
            f"the paired t-interval needs at least {MIN_SEEDS}; {more} more needed "
            f"(lorasweep compare --seeds {MIN_SEEDS})",
            seeds_needed=MIN_SEEDS,
        )
    if diff.excludes_zero():
        a_ahead = diff.lo > 0  # a's metric is larger than b's
        winner = name_a if a_ahead == (direction == "maximize") else name_b
        # Advantage of the winner, always positive: flip (a - b) when the winner's metric is smaller.
        mean, lo, hi = (diff.mean, diff.lo, diff.hi) if a_ahead else (-diff.mean, -diff.hi, -diff.lo)
        return Verdict(
            winner=winner,
            text=f"{winner} better by {abs(mean):.4g} [{lo:.4g}, {hi:.4g}] {metric} ({diff.label})",
            seeds_needed=None,
        )
    text = (
        f"no clear difference between {name_a} and {name_b} "
        f"({metric} difference {diff.mean:.4g} [{diff.lo:.4g}, {diff.hi:.4g}], {diff.label})"
    )
    needed = seeds_to_detect(diff, confidence=diff.confidence)
    if needed is not None:
        text += (
            f"; about {needed} seeds would detect a difference of {abs(diff.mean):.4g} "
            f"({POWER * 100:.0f} % power; lorasweep compare --seeds {needed})"
        )
    elif not diff.sd:
        text += "; every seed ties exactly, more seeds would not separate the spaces"
    elif diff.mean == 0.0:
        text += "; the observed mean difference is exactly 0, no number of seeds would detect it"
    else:
        text += f"; more than {MAX_SEEDS} seeds would be needed to detect a difference of {abs(diff.mean):.4g}"
    return Verdict(winner=None, text=text, seeds_needed=needed)
