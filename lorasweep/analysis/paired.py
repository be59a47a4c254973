"""Which of two arms wins on a new unit: the verdict over paired outcomes, failures included.

This is the statistics core of every "A against B" verdict lorasweep gives: the seed re-runs
(``compare --seeds``, a unit is a training seed) and the search repeats (a unit is a search
seed). It is a pure function of :class:`Pair` records, so any caller builds pairs and calls
:func:`paired_verdict`.

**What is estimated, in words.** How often arm A beats arm B on a new unit (at the same stratum,
e.g. the same LoRA rank): the share of A's wins among the units where one of them did better.
A unit whose run did not complete (failed, diverged, pruned: ``None``) simply loses to one that
completed (no penalty value is invented); both not completing is a tie; equal values are ties.
Ties are dropped, as in the sign test, and counted in the text. This estimand stays calibrated
where a mean does not: when seeds collapse (three seeds without a collapse look exactly like a
consistent shift to a t-interval), when the metric is bounded or discrete, and when runs fail.

**Test.** The exact two-sided sign test (``scipy.stats.binomtest``) on A's wins among the
untied pairs; with strata, wins and untied pairs are summed over the strata both arms have (a
stratified sign test: under "no difference" each untied pair is a fair coin whatever its
stratum). A stratum one arm lacks is named, never averaged in. At 5 units or fewer no two-sided
exact sign test can reach 5 % (5 of 5 has p = 0.0625): a verdict needs at least
:data:`MIN_UNITS_FIXED` units at one look, and :func:`min_units` under the sequential design.

**Sequential looks.** Units may be added in batches and the verdict looked at after each
(``compare --seeds auto``, or a user adding seeds by hand): every look is charged to an
alpha-spending function (Lan & DeMets' Pocock type, ``α·ln(1 + (e - 1)·t)`` with
``t = units / max_units``), and the rejection boundary at each look is computed exactly by
dynamic programming over the binomial null of the untied pairs, so that the chance of naming a
winner at any look, when there is no difference, is at most α over all looks together. The
looks are given as the unit counts at which a verdict was shown (``looks``); they must be
recorded by the caller (the store keeps them for ``compare``).

**Beside the win rate:** the typical (median) paired difference over the units where both
completed, with the distribution-free interval of ``scipy.stats.quantile_test`` (none from
fewer than 6 pairs), and each arm's downside: on how many units it did not complete while the
other did, on how many it fell below the other and by how much at worst. :func:`paired_verdict`
never names an arm better without its downside in the same sentence.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from lorasweep.metrics import Direction

__all__ = [
    "ALPHA",
    "MAX_UNITS",
    "MIN_UNITS_FIXED",
    "Downside",
    "MedianDifference",
    "Outcome",
    "Pair",
    "PairedVerdict",
    "SequentialTest",
    "SignCount",
    "StratumResult",
    "can_still_decide",
    "downside",
    "median_difference",
    "min_units",
    "outcome",
    "paired_verdict",
    "planned_looks",
    "sequential_sign_test",
    "sign_count",
    "spent_alpha",
]

#: The false-winner rate every verdict keeps, over all its looks together.
ALPHA = 0.05
#: The most units the sequential design plans for (``compare --seeds auto`` stops there; looks
#: beyond it spend nothing more, so they cannot name a winner the looks before did not).
MAX_UNITS = 20
#: Fewest untied pairs at which a two-sided exact sign test can reach 5 % at all (6 of 6: 0.03125).
MIN_UNITS_FIXED = 6


class Outcome(enum.StrEnum):
    """How one pair came out."""

    A = "a"  # A better (or B did not complete)
    B = "b"
    TIE = "tie"  # equal values, or neither completed


@dataclass(frozen=True, kw_only=True)
class Pair:
    """The two arms' outcomes on one unit (a seed, or a search repeat) at one stratum (a rank).

    ``a`` / ``b`` are the metric values; None means that arm's run did not complete (failed,
    diverged, pruned) and it loses to a completed one."""

    unit: int
    stratum: int
    a: float | None
    b: float | None

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"Pair.{name} must be finite or None (did not complete), got {v!r}")


def outcome(pair: Pair, direction: Direction) -> Outcome:
    """Which arm did better on ``pair``: a run that did not complete loses to one that did; two
    that did not complete, or equal values, tie."""
    if pair.a is None and pair.b is None:
        return Outcome.TIE
    if pair.a is None:
        return Outcome.B
    if pair.b is None:
        return Outcome.A
    if pair.a == pair.b:
        return Outcome.TIE
    return Outcome.A if direction.better(pair.a, pair.b) else Outcome.B


@dataclass(frozen=True, kw_only=True)
class SignCount:
    """Wins, losses and ties over some pairs, and the exact two-sided sign test of A's wins
    among the untied ones (``scipy.stats.binomtest``; p = 1 with no untied pair)."""

    wins_a: int
    wins_b: int
    ties: int

    @property
    def untied(self) -> int:
        return self.wins_a + self.wins_b

    @property
    def n(self) -> int:
        return self.untied + self.ties

    @property
    def p_value(self) -> float:
        if self.untied == 0:
            return 1.0
        return float(stats.binomtest(self.wins_a, self.untied, 0.5).pvalue)

    @property
    def win_rate_a(self) -> float | None:
        """A's share of the untied pairs: the estimate of how often A beats B on a new unit."""
        return self.wins_a / self.untied if self.untied else None

    def win_rate_interval(self, confidence: float = 1 - ALPHA) -> tuple[float, float] | None:
        """Clopper–Pearson interval of A's win rate (None with no untied pair)."""
        if not self.untied:
            return None
        ci = stats.binomtest(self.wins_a, self.untied, 0.5).proportion_ci(confidence, method="exact")
        return float(ci.low), float(ci.high)

    def __add__(self, other: SignCount) -> SignCount:
        return SignCount(
            wins_a=self.wins_a + other.wins_a, wins_b=self.wins_b + other.wins_b, ties=self.ties + other.ties
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "wins_a": self.wins_a,
            "wins_b": self.wins_b,
            "ties": self.ties,
            "p_value": self.p_value,
            "win_rate_a": self.win_rate_a,
            "win_rate_a_ci": self.win_rate_interval(),
        }


def sign_count(pairs: Sequence[Pair], direction: Direction) -> SignCount:
    """The wins, losses and ties of ``pairs`` (see :func:`outcome`)."""
    got = [outcome(p, direction) for p in pairs]
    return SignCount(wins_a=got.count(Outcome.A), wins_b=got.count(Outcome.B), ties=got.count(Outcome.TIE))


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
        ci = (
            f" [{self.lo:.4g}, {self.hi:.4g}]"
            if self.lo is not None and self.hi is not None
            else f" (no {self.confidence * 100:.3g} % interval from fewer than {MIN_UNITS_FIXED} pairs)"
        )
        return (
            f"median {metric} difference ({name_a} - {name_b}) {self.median:.4g}{ci} "
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
            parts.append(f"fell below {other} on {self.worse}{of} by up to {self.worst_shortfall:.4g} {metric}")
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


def spent_alpha(units: int, max_units: int = MAX_UNITS, alpha: float = ALPHA) -> float:
    """α spent by the time ``units`` units were looked at: Lan & DeMets' Pocock-type spending
    ``α·ln(1 + (e - 1)·t)``, ``t = min(1, units / max_units)``."""
    t = min(1.0, max(0.0, units / max_units))
    return alpha * math.log1p((math.e - 1.0) * t)


@dataclass(frozen=True, kw_only=True)
class SequentialTest:
    """The sign test at the last of several looks.

    ``looks`` are the unit counts at each look; ``untied`` and ``wins_a`` the untied pairs and A's
    wins among them at each look; ``bounds[k]`` the smallest number of wins (of either arm) that
    names a winner at look k (None: no winner possible there); ``decided_at`` the first look whose
    bound was reached (None: none was)."""

    looks: tuple[int, ...]
    untied: tuple[int, ...]
    wins_a: tuple[int, ...]
    bounds: tuple[int | None, ...]
    spent: tuple[float, ...]  # cumulative α actually spent by each look (≤ the spending function)
    max_units: int
    alpha: float

    @property
    def decided_at(self) -> int | None:
        for k, (m, w, c) in enumerate(zip(self.untied, self.wins_a, self.bounds, strict=True)):
            if c is not None and max(w, m - w) >= c:
                return k
        return None

    @property
    def winner(self) -> str | None:
        """``"a"`` or ``"b"`` (at the first look that decided), or None."""
        k = self.decided_at
        if k is None:
            return None
        return "a" if self.wins_a[k] * 2 > self.untied[k] else "b"

    def as_dict(self) -> dict[str, Any]:
        return {
            "looks": list(self.looks),
            "untied": list(self.untied),
            "wins_a": list(self.wins_a),
            "bounds": list(self.bounds),
            "alpha_spent": list(self.spent),
            "max_units": self.max_units,
            "alpha": self.alpha,
            "decided_at_look": self.decided_at,
        }


def sequential_sign_test(
    looks: Sequence[int],
    untied: Sequence[int],
    wins_a: Sequence[int],
    max_units: int = MAX_UNITS,
    alpha: float = ALPHA,
) -> SequentialTest:
    """Exact group-sequential two-sided sign test.

    At look k there are ``untied[k]`` untied pairs (non-decreasing) of which A won ``wins_a[k]``.
    Under "no difference" each untied pair is a fair coin, so the number of A's wins follows a
    binomial random walk; the distribution of the walks not yet stopped is carried from look to
    look (dynamic programming), and at each look the symmetric boundary is the smallest number
    of wins ``c > untied/2`` whose extra chance of stopping keeps the total at most
    :func:`spent_alpha` of that look's unit count. What a look did not spend carries forward."""
    if not (len(looks) == len(untied) == len(wins_a)) or not looks:
        raise ValueError("looks, untied and wins_a must be non-empty and of the same length")
    if any(b < a for a, b in itertools.pairwise(looks)) or any(b < a for a, b in itertools.pairwise(untied)):
        raise ValueError(f"looks and untied pairs must not decrease, got looks {list(looks)}, untied {list(untied)}")
    dist = np.array([1.0])  # P(wins_a = s, not stopped) for s = 0..m
    m_prev, spent = 0, 0.0
    bounds: list[int | None] = []
    spents: list[float] = []
    for n, m in zip(looks, untied, strict=True):
        if m > m_prev:
            step = stats.binom.pmf(np.arange(m - m_prev + 1), m - m_prev, 0.5)
            dist = np.convolve(dist, step)
        m_prev = m
        budget = spent_alpha(n, max_units, alpha) - spent
        bound = None
        s = np.arange(m + 1)
        for c in range(math.floor(m / 2) + 1, m + 1):
            reject = (s >= c) | (s <= m - c)
            mass = float(dist[reject].sum())
            if mass <= budget * (1 + 1e-12):
                bound = c
                dist = np.where(reject, 0.0, dist)
                spent += mass
                break
        bounds.append(bound)
        spents.append(spent)
    return SequentialTest(
        looks=tuple(looks),
        untied=tuple(untied),
        wins_a=tuple(wins_a),
        bounds=tuple(bounds),
        spent=tuple(spents),
        max_units=max_units,
        alpha=alpha,
    )


def min_units(max_units: int = MAX_UNITS, alpha: float = ALPHA, pairs_per_unit: int = 1) -> int:
    """The fewest units at which a first look can name a winner at all (every pair untied and
    won by one arm), under the sequential design."""
    for n in range(1, max_units + 1):
        m = n * pairs_per_unit
        if sequential_sign_test([n], [m], [m], max_units, alpha).winner is not None:
            return n
    return max_units


def planned_looks(max_units: int = MAX_UNITS, step: int = 3, alpha: float = ALPHA) -> tuple[int, ...]:
    """The looks ``compare --seeds auto`` takes: first at the fewest units that can decide
    (:func:`min_units`), then every ``step`` units, and at ``max_units`` (7, 10, 13, 16, 20 by default)."""
    first = min_units(max_units, alpha)
    looks = [k for k in range(first, max_units, step) if max_units - k >= step]
    return (*looks, max_units)


def can_still_decide(test: SequentialTest | None, max_units: int = MAX_UNITS) -> bool:
    """Whether adding units up to ``max_units`` could still name a winner: true when, if every
    added unit were an untied win for the arm that leads now, the look at ``max_units`` (after the
    looks already taken) would decide. False once a winner is named or the maximum is reached."""
    if test is None:
        return True
    n = test.looks[-1]
    if test.winner is not None or n >= max_units:
        return False
    extra = max_units - n
    m, w = test.untied[-1], test.wins_a[-1]
    lead = w if 2 * w >= m else m - w
    future = sequential_sign_test(
        [*test.looks, max_units], [*test.untied, m + extra], [*test.wins_a, lead + extra], max_units, test.alpha
    )
    return future.winner is not None


@dataclass(frozen=True, kw_only=True)
class StratumResult:
    """One stratum (rank) both arms have: its sign count, typical difference and downsides."""

    stratum: int
    count: SignCount
    median: MedianDifference
    downside_a: Downside
    downside_b: Downside

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.count.as_dict(),
            "median_difference": self.median.as_dict(),
            "downside_a": self.downside_a.as_dict(),
            "downside_b": self.downside_b.as_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class PairedVerdict:
    """The verdict of A against B over paired units, per stratum and pooled over the strata both
    arms have (see the module docstring for what it estimates)."""

    name_a: str
    name_b: str
    metric: str
    direction: Direction
    unit: str  # what one unit is, in words ("seed", "search repeat")
    strata: dict[int, StratumResult]  # the strata both arms have, in order
    missing: dict[int, str] = field(default_factory=dict)  # stratum → which arm has no unit there
    pooled: SignCount
    median: MedianDifference  # over every stratum's pairs where both completed
    downside_a: Downside
    downside_b: Downside
    test: SequentialTest | None  # None: no untied pair anywhere (or no pair)
    winner: str | None
    text: str
    stratum_label: str = "rank"

    @property
    def n_units(self) -> int:
        return 0 if self.test is None else self.test.looks[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimand": (
                f"how often {self.name_a} beats {self.name_b} on a new {self.unit} at the same {self.stratum_label} "
                "(a run that did not complete loses to one that did; ties dropped)"
            ),
            "method": "exact sign test, stratified by "
            + self.stratum_label
            + ", group-sequential (Pocock-type spending)",
            "winner": self.winner,
            "text": self.text,
            "pooled": self.pooled.as_dict(),
            "median_difference": self.median.as_dict(),
            "downside": {self.name_a: self.downside_a.as_dict(), self.name_b: self.downside_b.as_dict()},
            "per_stratum": {str(s): r.as_dict() for s, r in self.strata.items()},
            "missing_strata": {str(s): why for s, why in self.missing.items()},
            "sequential": None if self.test is None else self.test.as_dict(),
            "min_units": min_units(MAX_UNITS if self.test is None else self.test.max_units),
        }


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def paired_verdict(
    pairs: Sequence[Pair],
    *,
    name_a: str,
    name_b: str,
    direction: Direction,
    metric: str,
    strata_a: Sequence[int] | None = None,
    strata_b: Sequence[int] | None = None,
    looks: Sequence[int] = (),
    max_units: int = MAX_UNITS,
    alpha: float = ALPHA,
    unit: str = "seed",
    stratum_label: str = "rank",
    adds_units: str = "lorasweep compare --seeds auto adds them",
) -> PairedVerdict:
    """The verdict of arm A (``name_a``) against arm B over ``pairs``.

    ``pairs`` are the units both arms ran, one per (unit, stratum); a unit where only one arm has
    a record is the caller's to report, not a pair. ``strata_a``/``strata_b`` are the strata each
    arm was run at (default: those in ``pairs``): a stratum only one arm has is named in
    ``missing`` and left out of the pooled test. ``looks`` are the unit counts at which a verdict
    was shown before (recorded by the caller); the current count (the number of distinct units
    in ``pairs``) is always the last look. Units are taken in ascending order: the first k
    units are the ones the look at k saw.

    Raises:
        ValueError: on duplicate (unit, stratum) pairs, or looks beyond the current unit count.
    """
    keys = [(p.unit, p.stratum) for p in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("pairs must hold one record per (unit, stratum)")
    have = sorted({p.stratum for p in pairs})
    sa = sorted(set(strata_a) if strata_a is not None else set(have))
    sb = sorted(set(strata_b) if strata_b is not None else set(have))
    missing: dict[int, str] = {}
    for s in sorted(set(sa) ^ set(sb)):
        missing[s] = f"{name_b if s in sa else name_a} has no {unit} re-run at {stratum_label} {s}"
    common = [s for s in have if s in sa and s in sb]
    used = [p for p in pairs if p.stratum in common]
    units = sorted({p.unit for p in used})
    n = len(units)
    if any(k > n or k < 1 for k in looks):
        raise ValueError(f"looks {list(looks)} must lie between 1 and the current number of {unit}s ({n})")
    pooled = sign_count(used, direction)
    med = median_difference(used)
    down_a = downside(used, direction, "a", name_a)
    down_b = downside(used, direction, "b", name_b)
    strata = {
        s: StratumResult(stratum=s, count=pooled, median=med, downside_a=down_a, downside_b=down_b)
        if len(common) == 1  # one stratum: its figures are the pooled ones
        else StratumResult(
            stratum=s,
            count=sign_count([p for p in used if p.stratum == s], direction),
            median=median_difference([p for p in used if p.stratum == s]),
            downside_a=downside([p for p in used if p.stratum == s], direction, "a", name_a),
            downside_b=downside([p for p in used if p.stratum == s], direction, "b", name_b),
        )
        for s in common
    }
    test = None
    if n:
        all_looks = sorted({*looks, n})
        counts = []
        for k in all_looks:
            seen = set(units[:k])
            counts.append(sign_count([p for p in used if p.unit in seen], direction))
        test = sequential_sign_test(all_looks, [c.untied for c in counts], [c.wins_a for c in counts], max_units, alpha)
    side = test.winner if test is not None else None
    winner = {"a": name_a, "b": name_b}.get(side or "")
    text = _text(
        name_a=name_a,
        name_b=name_b,
        metric=metric,
        unit=unit,
        stratum_label=stratum_label,
        common=common,
        missing=missing,
        pooled=pooled,
        med=med,
        down_a=down_a,
        down_b=down_b,
        test=test,
        winner_side=side,
        max_units=max_units,
        alpha=alpha,
        adds_units=adds_units,
    )
    return PairedVerdict(
        name_a=name_a,
        name_b=name_b,
        metric=metric,
        direction=direction,
        unit=unit,
        strata=strata,
        missing=missing,
        pooled=pooled,
        median=med,
        downside_a=down_a,
        downside_b=down_b,
        test=test,
        winner=winner,
        text=text,
        stratum_label=stratum_label,
    )


def _text(
    *,
    adds_units: str,
    name_a: str,
    name_b: str,
    metric: str,
    unit: str,
    stratum_label: str,
    common: list[int],
    missing: dict[int, str],
    pooled: SignCount,
    med: MedianDifference,
    down_a: Downside,
    down_b: Downside,
    test: SequentialTest | None,
    winner_side: str | None,
    max_units: int,
    alpha: float,
) -> str:
    """The verdict in words: the finding first (a winner always with its downside), then the
    typical difference, then what the test was and what was left out."""
    where = (
        f"at {stratum_label} {common[0]}"
        if len(common) == 1
        else f"pooled over {stratum_label}s {', '.join(map(str, common))} (stratified by {stratum_label})"
    )
    tail = [f"{m}: not compared" for m in missing.values()]
    need = min_units(max_units, alpha)
    if test is None or not common:
        return "; ".join([f"no verdict possible between {name_a} and {name_b}: no {unit} was re-run in both", *tail])
    n = test.looks[-1]
    ties = f", {pooled.ties} tie{'s' * (pooled.ties != 1)} dropped" if pooled.ties else ""
    if winner_side is None:
        score = f"{name_a} won {pooled.wins_a} and {name_b} won {pooled.wins_b} of {pooled.n} {where}{ties}"
        if pooled.untied < need and n < max_units:
            head = (
                f"no verdict possible yet between {name_a} and {name_b} from {n} {unit}{'s' * (n != 1)} ({score}): "
                f"the exact sign test cannot name a winner from fewer than {need} untied {unit}s "
                f"({alpha * 100:.3g} % over up to {max_units}; {adds_units})"
            )
        else:
            head = f"no clear difference between {name_a} and {name_b} ({score})"
            if can_still_decide(test, max_units):
                head += (
                    f"; more {unit}s can still decide (up to {max_units}, each look charged: "
                    "lorasweep compare --resume --seeds auto)"
                )
            elif n < max_units:
                head += f"; no {unit}s added up to {max_units} can name a winner any more"
            else:
                head += f"; the sequential design ends at {max_units} {unit}s"
        downs = [d for x in (down_a, down_b) if (d := x.describe(name_b if x is down_a else name_a, metric, unit))]
        return "; ".join([head, med.describe(name_a, name_b, metric), *downs, *tail])
    win, lose = (name_a, name_b) if winner_side == "a" else (name_b, name_a)
    w, loss_count = (pooled.wins_a, pooled.wins_b) if winner_side == "a" else (pooled.wins_b, pooled.wins_a)
    rate = w / (w + loss_count)
    wdown = down_a if winner_side == "a" else down_b
    ldown = down_b if winner_side == "a" else down_a
    head = f"{win} beat {lose} on {w} of {w + loss_count} {unit}s {where}{ties} (win rate {_pct(rate)})"
    downside_text = wdown.describe(lose, metric, unit)
    head += f", but {downside_text}" if downside_text else f"; {win} never did worse than {lose}"
    method = (
        f"exact sign test, {alpha * 100:.3g} % over all {len(test.looks)} look{'s' * (len(test.looks) != 1)} "
        f"(sequential, up to {max_units} {unit}s)"
    )
    other = ldown.describe(win, metric, unit)
    return "; ".join([head, med.describe(name_a, name_b, metric), *([other] if other else []), method, *tail])
