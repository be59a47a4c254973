"""Tests for lorasweep.analysis.stats: t-intervals, power and the comparison verdict.

The verdict's calibration (false-positive rate and power by simulation) is in
tests/test_seed_verdict.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lorasweep.analysis.stats import (
    MIN_SEEDS,
    Interval,
    mean_interval,
    paired_difference,
    paired_t_power,
    seeds_to_detect,
    verdict,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_t_interval_covers_true_mean_at_nominal_rate_with_few_seeds() -> None:
    # 4000 normal samples of 5: the t-interval is exact, so coverage ~ Binomial(4000, 0.95)/4000,
    # SD sqrt(0.95 * 0.05 / 4000) = 0.0034; [0.935, 0.965] is +-4.4 SD (fails by chance ~1e-5).
    rng = np.random.default_rng(20240601)
    hits = 0
    trials = 4000
    for sample in rng.normal(1.0, 2.0, size=(trials, 5)):
        ci = mean_interval(sample, confidence=0.95)
        assert ci.lo is not None and ci.hi is not None
        hits += ci.lo <= 1.0 <= ci.hi
    assert 0.935 <= hits / trials <= 0.965, hits / trials


def test_interval_matches_scipy() -> None:
    values = [0.71, 0.74, 0.69, 0.73, 0.78]
    ci = mean_interval(values, confidence=0.9)
    lo, hi = stats.t.interval(0.9, df=4, loc=np.mean(values), scale=stats.sem(values))
    assert (ci.lo, ci.hi) == pytest.approx((lo, hi), rel=1e-12)
    assert ci.sd == pytest.approx(np.std(values, ddof=1))
    assert ci.method == "t-interval" and ci.label == "t-interval, 90 %, n = 5"


def test_single_value_has_no_interval() -> None:
    ci = mean_interval([3.5])
    assert ci == Interval(mean=3.5, lo=None, hi=None, n=1)
    assert ci.as_dict() == {"mean": 3.5, "ci": None, "n": 1, "sd": None, "confidence": 0.95, "method": "t-interval"}
    assert not ci.excludes_zero()


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf"), 2.0]])
def test_mean_interval_rejects_empty_or_non_finite(values: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        mean_interval(values)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_rejects_confidence_out_of_range(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=confidence)
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([1.0, 2.0], [0.0, 1.0], confidence=confidence)


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=2, max_size=30))
def test_interval_is_ordered_around_the_mean(values: list[float]) -> None:
    ci = mean_interval(values)
    assert ci.lo is not None and ci.hi is not None
    tol = 1e-9 * (1.0 + max(abs(v) for v in values))
    assert ci.lo - tol <= ci.mean <= ci.hi + tol
    assert ci.n == len(values)


def test_paired_difference_of_identical_arrays_is_exactly_zero() -> None:
    a = [0.71, 0.74, 0.69, 0.73]
    diff = paired_difference(a, list(a))
    assert (diff.mean, diff.lo, diff.hi, diff.n, diff.sd) == (0.0, 0.0, 0.0, 4, 0.0)
    assert diff.as_dict()["ci"] == [0.0, 0.0] and diff.as_dict()["method"] == "paired t-interval"
    v = verdict(diff, "lr", "alpha", "maximize", "accuracy")
    assert v.winner is None and v.text.startswith("no clear difference between lr and alpha")
    assert "every seed ties exactly" in v.text


def test_paired_difference_is_scipys_paired_t_interval() -> None:
    a = np.array([0.80, 0.79, 0.84, 0.77, 0.81, 0.83])
    b = np.array([0.78, 0.80, 0.80, 0.74, 0.80, 0.79])
    diff = paired_difference(a, b, confidence=0.95)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (diff.lo, diff.hi) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert diff.label == "paired t-interval, 95 %, n = 6"


def test_paired_difference_cancels_shared_seed_effect() -> None:
    seed_effect = np.array([0.0, 10.0, -5.0, 3.0, 8.0])
    a = seed_effect + np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    diff = paired_difference(a, seed_effect)
    assert diff.lo is not None and diff.hi is not None
    assert 0.8 <= diff.lo <= diff.mean <= diff.hi <= 1.2


def test_paired_difference_mismatched_lengths_name_both() -> None:
    with pytest.raises(ValueError, match=r"len\(a\)=3.*len\(b\)=2"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])


def test_paired_difference_names_the_bad_argument() -> None:
    with pytest.raises(ValueError, match=r"^b "):
        paired_difference([1.0, 2.0], [1.0, float("nan")])


def test_verdict_clearly_better_a_when_maximizing() -> None:
    a = [0.80, 0.82, 0.81, 0.83, 0.80]
    b = [0.70, 0.71, 0.69, 0.72, 0.70]
    diff = paired_difference(a, b)
    v = verdict(diff, "a", "b", "maximize", "accuracy")
    assert v.winner == "a" and v.seeds_needed is None
    interval = f"[{diff.lo:.4g}, {diff.hi:.4g}]"
    assert v.text == f"a better by {diff.mean:.4g} {interval} accuracy (paired t-interval, 95 %, n = 5)"
    # Same numbers, but lower is better: b wins, reported as b - a (signs flipped, lo/hi swapped).
    v = verdict(diff, "a", "b", "minimize", "accuracy")
    assert v.winner == "b"
    assert v.text.startswith(f"b better by {diff.mean:.4g} [{diff.lo:.4g}, {diff.hi:.4g}] accuracy")


def test_verdict_minimize_flips() -> None:
    diff = Interval(mean=-0.3, lo=-0.5, hi=-0.1, n=5, sd=0.2, method="paired t-interval")  # a has lower loss
    assert verdict(diff, "a", "b", "minimize", "loss").text.startswith("a better by 0.3 [0.1, 0.5] loss")
    assert verdict(diff, "a", "b", "maximize", "loss").text.startswith("b better by 0.3 [0.1, 0.5] loss")
    diff = Interval(mean=0.3, lo=0.1, hi=0.5, n=5, sd=0.2, method="paired t-interval")  # b has lower loss
    assert verdict(diff, "a", "b", "minimize", "loss").winner == "b"
    assert verdict(diff, "a", "b", "maximize", "loss").winner == "a"


def test_verdict_undecided_says_how_many_seeds_would_decide() -> None:
    diff = paired_difference([0.80, 0.75, 0.83, 0.78, 0.79], [0.78, 0.77, 0.80, 0.77, 0.78])
    assert diff.lo is not None and diff.lo < 0 < diff.hi  # type: ignore[operator]
    v = verdict(diff, "lr", "alpha", "maximize", "accuracy")
    assert v.winner is None
    assert v.text.startswith(
        f"no clear difference between lr and alpha (accuracy difference {diff.mean:.4g} "
        f"[{diff.lo:.4g}, {diff.hi:.4g}], paired t-interval, 95 %, n = 5)"
    )
    n = v.seeds_needed
    assert n is not None and n > 5
    assert f"about {n} seeds would detect a difference of {abs(diff.mean):.4g}" in v.text
    assert f"lorasweep compare --seeds {n}" in v.text


@pytest.mark.parametrize("n", [1, 2])
def test_verdict_needs_three_seeds(n: int) -> None:
    diff = paired_difference([0.9, 0.91][:n], [0.1, 0.12][:n])  # a huge difference, but n < 3
    v = verdict(diff, "a", "b", "maximize", "accuracy")
    assert v.winner is None and v.seeds_needed == MIN_SEEDS == 3
    assert v.text.startswith(f"no verdict possible between a and b from {n} paired seed")
    assert f"{3 - n} more needed (lorasweep compare --seeds 3)" in v.text


def test_verdict_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        verdict(Interval(mean=0.0, lo=0.0, hi=0.0, n=3), "a", "b", "up", "accuracy")


@pytest.mark.parametrize(("effect", "n"), [(0.5, 10), (1.0, 3), (0.2, 200), (2.0, 5), (0.5, 6196), (0.5, 10_000)])
def test_power_is_scipys_noncentral_t(effect: float, n: int) -> None:
    crit = stats.t.ppf(0.975, n - 1)
    nc = effect * math.sqrt(n)
    expected = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert paired_t_power(effect, n) == pytest.approx(expected, rel=1e-9)


def test_seeds_to_detect_is_the_smallest_n_with_enough_power() -> None:
    diff = Interval(mean=0.01, lo=-0.01, hi=0.03, n=5, sd=0.02)  # effect 0.5
    n = seeds_to_detect(diff)
    assert n is not None
    assert paired_t_power(0.5, n) >= 0.8 > paired_t_power(0.5, n - 1)
    assert n == 34  # G*Power and R's power.t.test(delta=0.5, type="paired") give 34 pairs
    assert seeds_to_detect(Interval(mean=0.0, lo=-1.0, hi=1.0, n=5, sd=1.0)) is None  # nothing to detect
    assert seeds_to_detect(Interval(mean=1e-4, lo=-1.0, hi=1.0, n=5, sd=1.0)) is None  # more than MAX_SEEDS
    assert seeds_to_detect(Interval(mean=5.0, lo=4.0, hi=6.0, n=5, sd=1.0)) == MIN_SEEDS
