"""The exact sign test of two arms over paired units, at one look or at several.

The statistics core of :func:`lorasweep.analysis.paired.paired_verdict`: a :class:`Pair` is
the two arms' outcomes on one unit (a seed, or a search repeat) at one stratum (a rank);
:func:`outcome` says which arm did better on it (a run that did not complete loses to one that
completed; both not completing, or equal values, tie), and :class:`SignCount` holds the wins,
losses and ties over some pairs.

**Test.** The exact two-sided sign test (``scipy.stats.binomtest``) on A's wins among the
untied pairs; with strata, wins and untied pairs are summed over the strata both arms have (a
stratified sign test: under "no difference" each untied pair is a fair coin whatever its
stratum). At 5 units or fewer no two-sided exact sign test can reach 5 % (5 of 5 has
p = 0.0625): a verdict needs at least :data:`MIN_UNITS_FIXED` units at one look, and
:func:`min_units` under the sequential design.

**Sequential looks.** Units may be added in batches and the verdict looked at after each
(``compare --seeds auto``, or a user adding seeds by hand): every look is charged to an
alpha-spending function (Lan & DeMets' Pocock type, ``α·ln(1 + (e - 1)·t)`` with
``t = units / max_units``), and the rejection boundary at each look is computed exactly by
dynamic programming over the binomial null of the untied pairs, so that the chance of naming a
winner at any look, when there is no difference, is at most α over all looks together. The
looks are given as the unit counts at which a verdict was shown (``looks``); they must be
recorded by the caller (the store keeps them for ``compare``).
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from lorasweep.metrics import Direction

__all__ = [
    "ALPHA",
    "MAX_UNITS",
    "MIN_UNITS_FIXED",
    "Outcome",
    "Pair",
    "SequentialTest",
    "SignCount",
    "can_still_decide",
    "min_units",
    "outcome",
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
