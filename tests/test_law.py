"""Tests for lorasweep.analysis.law: the α*–rank power-law fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorasweep.analysis.law import REFERENCE_LAWS, LawFit, ReferenceLaw, fit_power_law

RANKS = [4, 8, 16, 32, 64]


def test_recovers_noiseless_law() -> None:
    alphas = [256.0 * math.sqrt(r) for r in RANKS]
    fit = fit_power_law(RANKS, alphas, n_boot=500)
    assert fit.c == pytest.approx(256.0, rel=1e-9)
    assert fit.p == pytest.approx(0.5, rel=1e-9)
    assert fit.n == 5
    assert fit.predict(100) == pytest.approx(2560.0, rel=1e-9)
    assert fit.p_ci[0] == pytest.approx(0.5, rel=1e-9) and fit.p_ci[1] == pytest.approx(0.5, rel=1e-9)


def test_noisy_law_interval_covers_truth_and_excludes_linear() -> None:
    rng = np.random.default_rng(2)
    ranks = np.repeat(RANKS, 3)
    alphas = 256.0 * np.sqrt(ranks) * np.exp(rng.normal(0.0, 0.1, size=ranks.size))
    fit = fit_power_law(ranks, alphas, confidence=0.95, seed=2)
    assert fit.n == 15
    assert fit.contains_p(0.5), fit
    assert fit.c_ci[0] <= 256.0 <= fit.c_ci[1], fit
    assert not fit.contains_p(1.0), fit
    assert fit.p_ci[0] <= fit.p <= fit.p_ci[1]
    assert fit.c_ci[0] <= fit.c <= fit.c_ci[1]


@settings(max_examples=30, deadline=None)
@given(
    st.floats(min_value=1e-3, max_value=1e4),
    st.floats(min_value=-2.0, max_value=2.0),
    st.lists(st.integers(1, 1024), min_size=2, max_size=8, unique=True),
)
def test_noiseless_recovery_property(c: float, p: float, ranks: list[int]) -> None:
    alphas = [c * r**p for r in ranks]
    fit = fit_power_law(ranks, alphas, n_boot=50)
    assert fit.c == pytest.approx(c, rel=1e-6)
    assert fit.p == pytest.approx(p, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("ranks", "alphas"), [([8], [16.0]), ([8, 8, 8], [16.0, 17.0, 15.0]), ([], [])])
def test_fewer_than_two_distinct_ranks_raises(ranks: list[int], alphas: list[float]) -> None:
    with pytest.raises(ValueError, match="need alpha\\* for at least 2 distinct ranks, got"):
        fit_power_law(ranks, alphas)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_non_positive_alpha_raises(bad: float) -> None:
    with pytest.raises(ValueError, match="alphas"):
        fit_power_law([4, 8, 16], [8.0, bad, 32.0])


def test_non_positive_rank_and_length_mismatch_raise() -> None:
    with pytest.raises(ValueError, match="ranks"):
        fit_power_law([0, 8], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"len\(ranks\)=3.*len\(alphas\)=2"):
        fit_power_law([4, 8, 16], [1.0, 2.0])


def test_lawfit_helpers() -> None:
    fit = LawFit(c=2.0, p=1.0, c_ci=(1.5, 2.5), p_ci=(0.9, 1.1), n=6)
    assert fit.contains_p(1.1) and not fit.contains_p(1.2)
    assert fit.predict(8) == 16.0
    assert fit.as_dict() == {"c": 2.0, "c_ci": [1.5, 2.5], "p": 1.0, "p_ci": [0.9, 1.1], "n": 6}
    with pytest.raises(ValueError, match="rank"):
        fit.predict(0)


def test_reference_laws() -> None:
    assert [(law.name, law.c, law.p) for law in REFERENCE_LAWS] == [
        ("alpha = r", 1.0, 1.0),
        ("alpha = 2r", 2.0, 1.0),
        ("rsLoRA alpha ∝ sqrt(r)", None, 0.5),
        ("paper: alpha = 256·sqrt(r)", 256.0, 0.5),
    ]
    assert all(isinstance(law, ReferenceLaw) for law in REFERENCE_LAWS)
    with pytest.raises(AttributeError):
        REFERENCE_LAWS[0].p = 2.0  # type: ignore[misc]
