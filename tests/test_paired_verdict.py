"""The paired verdict (lorasweep.analysis.paired; its sign test, lorasweep.analysis.sign_test): exact
error control, wording, and simulated calibration in the cases of issue 21
(lorasweep.analysis.verdict_sim draws them)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lorasweep.analysis.paired import paired_verdict
from lorasweep.analysis.sign_test import (
    ALPHA,
    MAX_UNITS,
    Pair,
    min_units,
    sequential_sign_test,
)
from lorasweep.analysis.verdict_sim import (
    NULL_SCENARIOS,
    RISK_SCENARIOS,
    draw,
    new_verdict,
    run_sequential,
    sequential_schedule,
    shift,
)
from lorasweep.commands import resume_command
from lorasweep.metrics import Direction

SIMS = 300


def test_sequential_boundaries_keep_alpha_exactly() -> None:
    """Enumerate every sign sequence of 13 untied pairs: the share that names a winner at any of
    the looks 7, 10, 13 is at most α (no simulation error)."""
    looks = (7, 10, 13)
    rejected = 0
    for signs in itertools.product((0, 1), repeat=13):
        wins = [sum(signs[:k]) for k in looks]
        if sequential_sign_test(looks, looks, wins).winner is not None:
            rejected += 1
    rate = rejected / 2**13
    assert 0.0 < rate <= ALPHA


def test_minimum_seeds() -> None:
    assert min_units(MAX_UNITS) == 7  # 7 of 7 at the first look; 6 of 6 (p = 0.031) exceeds α spent at 6/20
    assert sequential_schedule() == (7, 10, 13, 16, 20)


def test_failure_loses_and_both_failed_tie() -> None:
    pairs = [Pair(unit=i, stratum=4, a=None if i == 0 else 0.9, b=0.8) for i in range(8)]
    pairs.append(Pair(unit=8, stratum=4, a=None, b=None))
    v = paired_verdict(pairs, name_a="A", name_b="B", direction=Direction.MAXIMIZE, metric="accuracy")
    assert (v.pooled.wins_a, v.pooled.wins_b, v.pooled.ties) == (7, 1, 1)


def test_winner_named_with_its_downside_in_the_same_sentence() -> None:
    pairs = [Pair(unit=i, stratum=4, a=0.85, b=0.8) for i in range(9)] + [Pair(unit=9, stratum=4, a=None, b=0.8)]
    v = paired_verdict(pairs, name_a="A", name_b="B", direction=Direction.MAXIMIZE, metric="accuracy")
    assert v.winner == "A"
    first = v.text.split(";")[0]
    assert first.startswith("A beat B on 9 of 10 seeds") and "A did not complete on 1 of 10 seeds" in first


def test_missing_rank_named_and_left_out() -> None:
    pairs = [Pair(unit=i, stratum=4, a=0.8, b=0.8) for i in range(7)]
    v = paired_verdict(
        pairs, name_a="A", name_b="B", direction=Direction.MAXIMIZE, metric="accuracy", strata_a=[4], strata_b=[4, 64]
    )
    assert list(v.strata) == [4] and 64 in v.missing
    assert "A has no seed re-run at rank 64: not compared" in v.text
    assert v.winner is None


def test_too_few_seeds_says_how_many() -> None:
    pairs = [Pair(unit=i, stratum=4, a=0.9, b=0.8) for i in range(5)]
    v = paired_verdict(pairs, name_a="A", name_b="B", direction=Direction.MAXIMIZE, metric="accuracy")
    assert v.winner is None and "fewer than 7 untied seeds" in v.text


@pytest.mark.parametrize("name", list(NULL_SCENARIOS))
def test_null_false_winners(name: str) -> None:
    """No difference: a winner at 3, 5, 10 seeds, or at any look of --seeds auto, in ≤ 7 %."""
    scenario = NULL_SCENARIOS[name]
    rng = np.random.default_rng(21)
    for n in (3, 5):
        assert all(new_verdict(draw(scenario, rng, n)).winner is None for _ in range(50))
    at10 = sum(new_verdict(draw(scenario, rng, 10)).winner is not None for _ in range(SIMS)) / SIMS
    seq = sum(run_sequential(scenario, rng, sequential_schedule())[0].winner is not None for _ in range(SIMS)) / SIMS
    assert at10 <= 0.07 and seq <= 0.07, (at10, seq)


@pytest.mark.parametrize("name", list(RISK_SCENARIOS))
def test_risk_scenarios_never_hide_the_downside(name: str) -> None:
    scenario = RISK_SCENARIOS[name]
    rng = np.random.default_rng(5)
    got = [run_sequential(scenario, rng, sequential_schedule())[0] for _ in range(100)]
    for v in got:
        if v.winner == "A" and v.downside_a.any:
            first = v.text.split(";")[0]
            assert "A did not complete" in first or "A fell below" in first, v.text
    if name.startswith("loss"):
        # A diverged once and was worse on every other seed: B is named, with its typical difference
        assert sum(v.winner == "B" for v in got) >= 95
        assert all("median eval_loss difference" in v.text for v in got)


def test_power_two_sd_shift_within_ten_seeds() -> None:
    rng = np.random.default_rng(3)
    got = [run_sequential(shift(2.0), rng, sequential_schedule()) for _ in range(200)]
    assert sum(v.winner == "A" and k <= 10 for v, k in got) / 200 >= 0.6


def test_the_no_verdict_line_names_the_command_that_adds_the_callers_units() -> None:
    pairs = [Pair(unit=i, stratum=4, a=0.9, b=0.8) for i in range(3)]
    kw = {"name_a": "a", "name_b": "b", "direction": Direction.MAXIMIZE, "metric": "accuracy"}
    assert "lorasweep compare --resume --seeds auto adds them" in paired_verdict(pairs, **kw).text
    named = resume_command("my run", then="--repeats K")
    assert named == "lorasweep compare --resume --name 'my run' --repeats K"
    repeats = paired_verdict(pairs, **kw, unit="search repeat", add_command=named)
    assert f"{named} adds them" in repeats.text and "--seeds" not in repeats.text


def test_the_can_still_decide_line_names_the_callers_command_too() -> None:
    # 4 wins, 4 losses, 1 tie over 9 repeats: no clear difference yet, but up to 20 can still decide;
    # the line named "--seeds auto" even for search repeats
    values = [(0.9, 0.8)] * 4 + [(0.8, 0.9)] * 4 + [(0.85, 0.85)]
    pairs = [Pair(unit=i, stratum=4, a=a, b=b) for i, (a, b) in enumerate(values)]
    kw = {"name_a": "a", "name_b": "b", "direction": Direction.MAXIMIZE, "metric": "accuracy"}
    named = resume_command("exp1", then="--repeats K")
    text = paired_verdict(pairs, **kw, unit="search repeat", add_command=named).text
    assert "no clear difference" in text and "can still decide" in text, text
    assert f"each look charged: {named})" in text and "--seeds" not in text, text
