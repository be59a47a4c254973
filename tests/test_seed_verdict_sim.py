"""Issue 21's scenarios through the function the reports call (lorasweep.analysis.seeds'
``compare_reruns``, which ``seed_comparison`` and every section use): simulated seed re-runs
(lorasweep.analysis.verdict_sim) are written as the trial records ``compare --seeds`` stores
(kind SEEDS, seed i + 1, rank = stratum, a run that did not complete FAILED without a value), and
the verdict is read the way the report reads it. Fixed seeds; each test takes seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lorasweep.analysis.seeds import SeedComparison, compare_reruns, seed_comparison
from lorasweep.analysis.sign_test import planned_looks
from lorasweep.analysis.verdict_sim import NULL_SCENARIOS, RISK_SCENARIOS, SimExperiment, draw, shift, two_ranks
from lorasweep.metrics import Direction
from lorasweep.store import TrialKind, TrialRecord, TrialState

from factories import config, summary, trial

SIMS = 100
SCHEDULE = planned_looks()


def _rerun(study: int, rank: int, seed: int, value: float | None) -> TrialRecord:
    state = TrialState.COMPLETE if value is not None else TrialState.FAILED
    t = trial(study, rank, 8.0, 1e-3, value, state=state)
    return dataclasses.replace(t, kind=TrialKind.SEEDS, seed=seed)


def records(exp: SimExperiment, k: int | None = None) -> dict[str, list[TrialRecord]]:
    """The re-runs of space A and B as stored, the first ``k`` seeds only (None: all)."""
    out: dict[str, list[TrialRecord]] = {"A": [], "B": []}
    for p in exp.pairs:
        if k is None or p.unit < k:
            out["A"].append(_rerun(1, p.stratum, p.unit + 1, p.a))
            out["B"].append(_rerun(2, p.stratum, p.unit + 1, p.b))
    for rank, values in exp.only_b.items():
        out["B"] += [_rerun(2, rank, u + 1, v) for u, v in values.items() if k is None or u < k]
    return out


def verdict(exp: SimExperiment, k: int | None = None, looks: tuple[int, ...] = ()) -> SeedComparison:
    metric = "accuracy" if exp.direction is Direction.MAXIMIZE else "eval_loss"
    return compare_reruns(["A", "B"], records(exp, k), exp.direction, metric, looks=looks)


def sequential(exp: SimExperiment) -> tuple[SeedComparison, int]:
    """``compare --seeds auto`` on one drawn experiment: a look at each planned seed count (the
    earlier ones recorded), stopping at the first that names a winner."""
    for i, k in enumerate(SCHEDULE):
        got = verdict(exp, k, SCHEDULE[:i])
        if got.winner is not None or k == SCHEDULE[-1]:
            return got, k
    raise AssertionError("unreachable")


def names_downside(seeds: SeedComparison, name: str) -> bool:
    """The winner's first clause (before the first ';') states its failures or drops."""
    head = (seeds.verdict or "").split(";")[0]
    return f"{name} did not complete" in head or f"{name} fell below" in head


@pytest.mark.parametrize("name", list(NULL_SCENARIOS))
def test_null_scenarios_name_few_false_winners(name: str) -> None:
    """No difference in typical outcome or failure risk: no winner at 3 or 5 seeds (a verdict needs
    7), at most 7 % at 10 seeds, and at most 7 % over all looks of --seeds auto together."""
    scenario = NULL_SCENARIOS[name]
    rng = np.random.default_rng(2100 + len(name))
    for n in (3, 5):
        assert all(verdict(draw(scenario, rng, n)).winner is None for _ in range(20))
    at10 = sum(verdict(draw(scenario, rng, 10)).winner is not None for _ in range(SIMS)) / SIMS
    seq = sum(sequential(draw(scenario, rng, SCHEDULE[-1]))[0].winner is not None for _ in range(SIMS)) / SIMS
    assert at10 <= 0.07 and seq <= 0.07, (at10, seq)


@pytest.mark.parametrize("name", list(RISK_SCENARIOS))
def test_risk_scenarios_never_name_A_without_its_downside(name: str) -> None:
    """A collapses, fails, or diverges on some seeds: whenever A is named better its failures or
    drops are in the same clause, and B, when better, is named (not hidden behind an interval)."""
    scenario = RISK_SCENARIOS[name]
    rng = np.random.default_rng(77)
    got = [verdict(draw(scenario, rng, n)) for n in (3, 5, 10) for _ in range(40)]
    got += [sequential(draw(scenario, rng, SCHEDULE[-1]))[0] for _ in range(60)]
    for seeds in got:
        assert seeds.paired is not None
        if seeds.winner == "A" and seeds.paired.downside_a.any:
            assert names_downside(seeds, "A"), seeds.verdict
    if name.startswith("loss"):
        auto = got[-60:]
        assert sum(s.winner == "B" for s in auto) >= 57  # A worse on every seed and diverged on one
        assert all("median eval_loss difference" in (s.verdict or "") for s in got)
        assert all("A did not complete on 1 of" in (s.verdict or "") for s in got[:-60])  # fixed n: all seeds


def test_power_two_sd_shift_decided_within_ten_seeds() -> None:
    rng = np.random.default_rng(4)
    runs = [sequential(draw(shift(2.0), rng, SCHEDULE[-1])) for _ in range(SIMS)]
    assert sum(s.winner == "A" and k <= 10 for s, k in runs) / SIMS >= 0.6


def test_two_ranks_one_missing_is_named_and_left_out() -> None:
    """Equal at rank 4; only B re-ran at rank 64 (A completed nothing there): the verdict is at
    rank 4 alone, the missing rank is named in the verdict and warned about, never averaged in."""
    rng = np.random.default_rng(9)
    exp = two_ranks(rng, 10)
    s = dataclasses.replace(summary(config({"ranks": [4, 64]}), {"A": [], "B": []}), seed_trials=records(exp))
    seeds = seed_comparison(s)
    assert seeds is not None and seeds.paired is not None
    assert list(seeds.paired.strata) == [4] and list(seeds.per_rank) == [4]
    assert "A has no seed re-run at rank 64: not compared" in (seeds.verdict or "")
    assert "at rank 4" in (seeds.verdict or "")
    from lorasweep.analysis.seeds import verdict_warnings

    codes = [w["code"] for w in verdict_warnings(s, seeds)]
    assert "rank_not_compared" in codes


def test_ranks_both_have_are_pooled_stratified_and_each_has_its_own_verdict() -> None:
    pairs = {4: [(0.9, 0.8)] * 8, 8: [(0.8, 0.8)] * 8}
    runs: dict[str, list[TrialRecord]] = {"A": [], "B": []}
    for rank, values in pairs.items():
        for i, (a, b) in enumerate(values):
            runs["A"].append(_rerun(1, rank, i + 1, a))
            runs["B"].append(_rerun(2, rank, i + 1, b))
    seeds = compare_reruns(["A", "B"], runs, Direction.MAXIMIZE, "accuracy")
    assert seeds.paired is not None and list(seeds.per_rank) == [4, 8]
    assert "pooled over ranks 4, 8 (stratified by rank)" in (seeds.verdict or "")
    assert seeds.per_rank[4].winner == "A" and seeds.per_rank[8].winner is None  # rank 8: all ties
    assert seeds.winner == "A" and seeds.paired.pooled.ties == 8


def test_recorded_looks_are_charged() -> None:
    """9 of 10 names a winner at one look; after looks at 7 (7 of 7 would have decided there) the
    boundary at 10 is stricter, and the looks are in the verdict's record."""
    values = [(0.9, 0.8)] * 9 + [(0.8, 0.9)]
    runs = {
        "A": [_rerun(1, 4, i + 1, a) for i, (a, _) in enumerate(values)],
        "B": [_rerun(2, 4, i + 1, b) for i, (_, b) in enumerate(values)],
    }
    # seed 10 is the loss: at the look at 7, A had won 7 of 7 and would have stopped there
    once = compare_reruns(["A", "B"], runs, Direction.MAXIMIZE, "accuracy")
    looked = compare_reruns(["A", "B"], runs, Direction.MAXIMIZE, "accuracy", looks=(7,))
    assert once.paired is not None and looked.paired is not None
    assert once.paired.test is not None and once.paired.test.looks == (10,)
    assert looked.paired.test is not None and looked.paired.test.looks == (7, 10)
    assert looked.paired.test.spent[-1] <= 0.05 and looked.as_dict()["seed_verdict"]["looks"] == [7]
