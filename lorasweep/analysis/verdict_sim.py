"""Simulated seed re-runs for checking the verdict's calibration (used by
``benchmarks/verdict_calibration.py`` and the tests; nothing in the CLI calls it).

Each scenario draws one experiment: two spaces re-run on ``n`` paired seeds at one or more ranks,
as :class:`~lorasweep.analysis.sign_test.Pair` records (``None`` where a re-run did not complete),
with the metric's direction. :func:`old_verdict_winner` is the verdict lorasweep gave before
issue 21 (per-seed mean over each space's ranks, re-runs that did not complete counted at the
worst value observed, paired t-interval), kept only to print the before/after table;
:func:`new_verdict` is the report's verdict (:func:`~lorasweep.analysis.paired.paired_verdict`).

Base model (the one the earlier calibration used): ``a_i = m + u_i + e_ai``, ``b_i = m + u_i +
e_bi`` with a per-seed component ``u_i`` shared by both spaces (SD 0.05) and noise ``e`` (SD 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lorasweep.analysis.paired import PairedVerdict, paired_verdict
from lorasweep.analysis.sign_test import MAX_UNITS, Pair, planned_looks
from lorasweep.analysis.stats import MIN_SEEDS, paired_difference, seeds_to_detect, verdict
from lorasweep.metrics import Direction

SD_SHARED, SD_NOISE = 0.05, 0.01


@dataclass(frozen=True, kw_only=True)
class SimExperiment:
    pairs: list[Pair]
    direction: Direction = Direction.MAXIMIZE
    strata_a: tuple[int, ...] = (4,)
    strata_b: tuple[int, ...] = (4,)
    #: what the old verdict counted a re-run that did not complete at (the worst value observed)
    counted_at: float = 0.5
    #: stratum → (unit → value) for strata only one space has (B only, in these scenarios)
    only_b: dict[int, dict[int, float]] = field(default_factory=dict)


Scenario = Callable[[np.random.Generator, int], SimExperiment]


def _base(
    rng: np.random.Generator, n: int, sd_a: float = SD_NOISE, sd_b: float = SD_NOISE
) -> tuple[np.ndarray, np.ndarray]:
    u = rng.normal(0.0, SD_SHARED, n)
    return 0.8 + u + rng.normal(0.0, sd_a, n), 0.8 + u + rng.normal(0.0, sd_b, n)


def _pairs(a: np.ndarray | list, b: np.ndarray | list, stratum: int = 4) -> list[Pair]:
    return [
        Pair(unit=i, stratum=stratum, a=None if x is None else float(x), b=None if y is None else float(y))
        for i, (x, y) in enumerate(zip(a, b, strict=True))
    ]


def normal(rng: np.random.Generator, n: int) -> SimExperiment:
    return SimExperiment(pairs=_pairs(*_base(rng, n)))


def unequal_noise(rng: np.random.Generator, n: int) -> SimExperiment:
    return SimExperiment(pairs=_pairs(*_base(rng, n, 0.004, 0.02)))


def both_fail(rng: np.random.Generator, n: int, rate: float = 0.15) -> SimExperiment:
    a, b = _base(rng, n)
    fa, fb = rng.random(n) < rate, rng.random(n) < rate
    return SimExperiment(
        pairs=_pairs(
            [None if f else x for f, x in zip(fa, a, strict=True)],
            [None if f else y for f, y in zip(fb, b, strict=True)],
        )
    )


def bounded_ties(rng: np.random.Generator, n: int) -> SimExperiment:
    """Accuracy near 1 on a small eval set: Binomial(n_eval, p_seed)/n_eval, many exact ties."""
    n_eval = int(rng.integers(100, 201))
    p = rng.uniform(0.985, 0.995, n)
    return SimExperiment(
        pairs=_pairs(rng.binomial(n_eval, p) / n_eval, rng.binomial(n_eval, p) / n_eval), counted_at=0.5
    )


def two_ranks(rng: np.random.Generator, n: int) -> SimExperiment:
    """Equal at rank 4; at rank 64 only B has re-runs (A completed nothing there), 0.03 lower."""
    a, b = _base(rng, n)
    u64 = rng.normal(0.0, SD_SHARED, n)
    b64 = 0.77 + u64 + rng.normal(0.0, SD_NOISE, n)
    return SimExperiment(
        pairs=_pairs(a, b), strata_a=(4,), strata_b=(4, 64), only_b={64: {i: float(v) for i, v in enumerate(b64)}}
    )


def selection(offset: float, configs_a: int = 8, configs_b: int = 8, test_offset: float = 0.0) -> Scenario:
    """Each space's search picks the best of its configs on the eval split, where every config
    has an offset ~ N(0, ``offset``) shared by all seeds (it suits those examples). The old
    verdict re-ran on the eval split (the picked offsets stay); the new one on the test split,
    where the eval offsets do not carry over and each config has its own ``test_offset``."""

    def draw(rng: np.random.Generator, n: int, *, on_test: bool) -> SimExperiment:
        picked = []
        for k in (configs_a, configs_b):
            o = rng.normal(0.0, offset, k)
            picked.append(o[int(np.argmax(o + rng.normal(0.0, SD_NOISE, k)))])
        a, b = _base(rng, n)
        if on_test:
            oa, ob = rng.normal(0.0, test_offset, 2)
        else:
            oa, ob = picked
        return SimExperiment(pairs=_pairs(a + oa, b + ob))

    def scenario(rng: np.random.Generator, n: int, on_test: bool = True) -> SimExperiment:
        return draw(rng, n, on_test=on_test)

    scenario.judged_on_eval = True  # type: ignore[attr-defined]
    return scenario


def drop(rng: np.random.Generator, n: int) -> SimExperiment:
    """A is +0.0176 on most seeds and drops by 0.10 on 15 % of them: equal means."""
    a, b = _base(rng, n)
    dropped = rng.random(n) < 0.15
    return SimExperiment(pairs=_pairs(np.where(dropped, a - 0.1 + 0.0176, a + 0.0176), b))


def fails(rng: np.random.Generator, n: int) -> SimExperiment:
    """A fails on 15 % of seeds and is +0.02 otherwise."""
    a, b = _base(rng, n)
    failed = rng.random(n) < 0.15
    return SimExperiment(pairs=_pairs([None if f else x + 0.02 for f, x in zip(failed, a, strict=True)], b))


def loss_diverges(rng: np.random.Generator, n: int) -> SimExperiment:
    """eval_loss (minimize): A diverges on one seed and is 0.05 worse on the rest; the old verdict
    counted the diverged re-run at the largest loss a search trial reported (2000)."""
    u = rng.normal(0.0, SD_SHARED, n)
    b = 1.0 + u + rng.normal(0.0, SD_NOISE, n)
    a: list[float | None] = list(1.05 + u + rng.normal(0.0, SD_NOISE, n))
    a[int(rng.integers(n))] = None
    return SimExperiment(pairs=_pairs(a, b), direction=Direction.MINIMIZE, counted_at=2000.0)


def shift(effect: float) -> Scenario:
    """A clean shift of ``effect`` SDs of the paired differences in A's favour."""

    def draw(rng: np.random.Generator, n: int) -> SimExperiment:
        a, b = _base(rng, n)
        return SimExperiment(pairs=_pairs(a + effect * SD_NOISE * math.sqrt(2), b))

    return draw


NULL_SCENARIOS: dict[str, Scenario] = {
    "normal noise": normal,
    "unequal noise": unequal_noise,
    "both fail on 15 %": both_fail,
    "accuracy near 1, ties": bounded_ties,
    "two ranks, A missing at one": two_ranks,
    "selection on eval, offset 0.003": selection(0.003),
    "selection on eval, offset 0.006": selection(0.006),
    "selection, A tries 24 configs, B 8 (0.006)": selection(0.006, 24, 8),
}

RISK_SCENARIOS: dict[str, Scenario] = {
    "A drops 0.10 on 15 %": drop,
    "A fails on 15 %, +0.02 otherwise": fails,
    "loss: A diverges once, worse otherwise": loss_diverges,
}


def draw(scenario: Scenario, rng: np.random.Generator, n: int, *, old: bool = False) -> SimExperiment:
    """One experiment of ``scenario``; ``old``: as the old verdict saw it (on the eval split)."""
    if getattr(scenario, "judged_on_eval", False):
        return scenario(rng, n, on_test=not old)  # type: ignore[call-arg]
    return scenario(rng, n)


def new_verdict(exp: SimExperiment, looks: tuple[int, ...] = (), max_units: int = MAX_UNITS) -> PairedVerdict:
    return paired_verdict(
        exp.pairs,
        name_a="A",
        name_b="B",
        direction=exp.direction,
        metric="accuracy" if exp.direction is Direction.MAXIMIZE else "eval_loss",
        strata_a=exp.strata_a,
        strata_b=exp.strata_b,
        looks=looks,
        max_units=max_units,
    )


def _old_per_seed(exp: SimExperiment) -> tuple[list[float], list[float], Direction]:
    """Per seed, each space's mean over the ranks it has (failures at ``counted_at``)."""
    units = sorted({p.unit for p in exp.pairs})
    a = [exp.counted_at if p.a is None else p.a for p in sorted(exp.pairs, key=lambda p: p.unit)]
    b = []
    for u, p in zip(units, sorted(exp.pairs, key=lambda p: p.unit), strict=True):
        vals = [exp.counted_at if p.b is None else p.b] + [v[u] for v in exp.only_b.values()]
        b.append(sum(vals) / len(vals))
    return a, b, exp.direction


def old_verdict_winner(exp: SimExperiment) -> tuple[str | None, int | None]:
    """The old verdict's winner ("A", "B" or None) and its "about N seeds would detect it"."""
    a, b, direction = _old_per_seed(exp)
    diff = paired_difference(a, b)
    v = verdict(diff, "A", "B", direction.value, "metric")
    needed = seeds_to_detect(diff) if v.winner is None and diff.n >= MIN_SEEDS else None
    return v.winner, needed


def sequential_schedule(max_units: int = MAX_UNITS, step: int = 3) -> tuple[int, ...]:
    """The looks ``compare --seeds auto`` takes (:func:`lorasweep.analysis.sign_test.planned_looks`)."""
    return planned_looks(max_units, step)


def run_sequential(
    scenario: Scenario, rng: np.random.Generator, schedule: tuple[int, ...]
) -> tuple[PairedVerdict, int]:
    """Draw the largest experiment once and look at its first k seeds for each k in ``schedule``,
    stopping at the first look that names a winner: the verdict and the seeds it took."""
    full = draw(scenario, rng, schedule[-1])
    for i, k in enumerate(schedule):
        exp = SimExperiment(
            pairs=[p for p in full.pairs if p.unit < k],
            direction=full.direction,
            strata_a=full.strata_a,
            strata_b=full.strata_b,
            counted_at=full.counted_at,
            only_b={s: {u: v for u, v in vs.items() if u < k} for s, vs in full.only_b.items()},
        )
        v = new_verdict(exp, looks=schedule[:i])
        if v.winner is not None or k == schedule[-1]:
            return v, k
    raise AssertionError("unreachable")


def run_old_advice(scenario: Scenario, rng: np.random.Generator, start: int = 3, cap: int = MAX_UNITS) -> str | None:
    """The old way to add seeds: 3 seeds; if no verdict, follow "about N seeds would detect it"
    (capped at ``cap``) and look again. The winner named at either look."""
    full = draw(scenario, rng, cap, old=True)

    def first(k: int) -> SimExperiment:
        return SimExperiment(
            pairs=[p for p in full.pairs if p.unit < k],
            direction=full.direction,
            counted_at=full.counted_at,
            only_b={s: {u: v for u, v in vs.items() if u < k} for s, vs in full.only_b.items()},
        )

    winner, needed = old_verdict_winner(first(start))
    if winner is not None or needed is None or needed <= start:
        return winner
    return old_verdict_winner(first(min(needed, cap)))[0]
