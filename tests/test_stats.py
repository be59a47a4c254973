"""Tests for lorasweep.analysis.stats: bootstrap intervals and the comparison verdict."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorasweep.analysis.stats import Interval, bootstrap_mean, paired_difference, verdict

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_bootstrap_interval_covers_true_mean_at_about_nominal_rate() -> None:
    rng = np.random.default_rng(20240601)
    true_mean = 1.0
    hits = 0
    trials = 300
    for i in range(trials):
        sample = rng.normal(true_mean, 2.0, size=20)
        ci = bootstrap_mean(sample, confidence=0.95, n_boot=2000, seed=i)
        hits += ci.lo <= true_mean <= ci.hi
    coverage = hits / trials
    # The percentile bootstrap undercovers slightly at n=20.
    assert 0.88 <= coverage <= 0.99, coverage


def test_single_value_gives_degenerate_interval() -> None:
    ci = bootstrap_mean([3.5])
    assert ci == Interval(mean=3.5, lo=3.5, hi=3.5, n=1)
    assert ci.as_dict() == {"mean": 3.5, "ci": [3.5, 3.5], "n": 1}


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf"), 2.0]])
def test_bootstrap_mean_rejects_empty_or_non_finite(values: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        bootstrap_mean(values)


@pytest.mark.parametrize(("kwargs", "name"), [({"confidence": 1.0}, "confidence"), ({"n_boot": 0}, "n_boot")])
def test_bootstrap_mean_rejects_bad_options(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        bootstrap_mean([1.0, 2.0], **kwargs)


def test_same_seed_same_interval_and_generator_accepted() -> None:
    values = [0.1, 0.5, 0.3, 0.9, 0.2]
    assert bootstrap_mean(values, seed=7) == bootstrap_mean(values, seed=7)
    assert bootstrap_mean(values, seed=np.random.default_rng(7)) == bootstrap_mean(values, seed=7)


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=30), st.integers(0, 2**32 - 1))
def test_interval_is_ordered_and_within_sample_range(values: list[float], seed: int) -> None:
    ci = bootstrap_mean(values, n_boot=200, seed=seed)
    tol = 1e-9 * (1.0 + max(abs(v) for v in values))
    assert min(values) - tol <= ci.lo <= ci.hi <= max(values) + tol
    assert ci.n == len(values)


def test_paired_difference_of_identical_arrays_is_exactly_zero() -> None:
    a = [0.71, 0.74, 0.69, 0.73]
    diff = paired_difference(a, list(a))
    assert (diff.mean, diff.lo, diff.hi, diff.n) == (0.0, 0.0, 0.0, 4)
    assert diff.as_dict() == {"mean": 0.0, "ci": [0.0, 0.0], "n": 4}
    assert verdict(diff, "lr", "alpha", "maximize", "accuracy").startswith("no clear difference between lr and alpha")


def test_paired_difference_cancels_shared_seed_effect() -> None:
    seed_effect = np.array([0.0, 10.0, -5.0, 3.0, 8.0])
    a = seed_effect + np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    diff = paired_difference(a, seed_effect)
    assert 0.9 <= diff.lo <= diff.mean <= diff.hi <= 1.1


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
    assert verdict(diff, "a", "b", "maximize", "accuracy") == (
        f"a better by {diff.mean:.4g} [{diff.lo:.4g}, {diff.hi:.4g}] accuracy"
    )
    # Same numbers, but lower is better: b wins, reported as b - a (signs flipped, lo/hi swapped).
    assert verdict(diff, "a", "b", "minimize", "accuracy") == (
        f"b better by {diff.mean:.4g} [{diff.lo:.4g}, {diff.hi:.4g}] accuracy"
    )


def test_verdict_minimize_flips() -> None:
    diff = Interval(mean=-0.3, lo=-0.5, hi=-0.1, n=5)  # a has lower loss
    assert verdict(diff, "a", "b", "minimize", "loss") == "a better by 0.3 [0.1, 0.5] loss"
    assert verdict(diff, "a", "b", "maximize", "loss") == "b better by 0.3 [0.1, 0.5] loss"
    diff = Interval(mean=0.3, lo=0.1, hi=0.5, n=5)  # b has lower loss
    assert verdict(diff, "a", "b", "minimize", "loss") == "b better by 0.3 [0.1, 0.5] loss"
    assert verdict(diff, "a", "b", "maximize", "loss") == "a better by 0.3 [0.1, 0.5] loss"


def test_verdict_interval_straddling_zero() -> None:
    diff = Interval(mean=0.05, lo=-0.1, hi=0.2, n=5)
    assert verdict(diff, "lr", "alpha", "maximize", "accuracy") == (
        "no clear difference between lr and alpha (accuracy difference 0.05 [-0.1, 0.2])"
    )


def test_verdict_too_few_seeds() -> None:
    diff = paired_difference([0.9], [0.1])
    assert verdict(diff, "a", "b", "maximize", "accuracy") == "no clear difference between a and b (too few seeds: n=1)"


def test_verdict_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        verdict(Interval(0.0, 0.0, 0.0, 3), "a", "b", "up", "accuracy")
