"""Which of two arms wins on a new unit: the verdict over paired outcomes, failures included.

This is the verdict every "A against B" comparison lorasweep gives: the seed re-runs
(``compare --seeds``, a unit is a training seed) and the search repeats (a unit is a search
seed). It is a pure function of :class:`~lorasweep.analysis.sign_test.Pair` records, so any
caller builds pairs and calls :func:`paired_verdict`.

**What is estimated, in words.** How often arm A beats arm B on a new unit (at the same stratum,
e.g. the same LoRA rank): the share of A's wins among the units where one of them did better.
A unit whose run did not complete (failed, diverged, pruned: ``None``) simply loses to one that
completed (no penalty value is invented); both not completing is a tie; equal values are ties.
Ties are dropped, as in the sign test, and counted in the text. This estimand stays calibrated
where a mean does not: when seeds collapse (three seeds without a collapse look exactly like a
consistent shift to a t-interval), when the metric is bounded or discrete, and when runs fail.

**Test.** The exact sign test, stratified by rank and group-sequential over the looks
(:mod:`lorasweep.analysis.sign_test`). A stratum one arm lacks is named, never averaged in.

**Beside the win rate:** the typical (median) paired difference and each arm's downside
(:mod:`lorasweep.analysis.paired_difference`). :func:`paired_verdict` never names an arm better
without its downside in the same sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.paired_difference import Downside, MedianDifference, downside, median_difference
from lorasweep.analysis.sign_test import (
    ALPHA,
    MAX_UNITS,
    Pair,
    SequentialTest,
    SignCount,
    can_still_decide,
    min_units,
    sequential_sign_test,
    sign_count,
)
from lorasweep.metrics import Direction

__all__ = ["PairedVerdict", "StratumResult", "paired_verdict"]


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
    add_command: str = "lorasweep compare --resume --seeds auto",
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
        add_command=add_command,
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
    add_command: str,
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
                f"({alpha * 100:.3g} % over up to {max_units}; {add_command} adds them)"
            )
        else:
            head = f"no clear difference between {name_a} and {name_b} ({score})"
            if can_still_decide(test, max_units):
                head += f"; more {unit}s can still decide (up to {max_units}, each look charged: {add_command})"
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
