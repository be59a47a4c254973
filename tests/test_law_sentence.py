"""The rank law's sentence says only what its numbers say (issue 21, step 5): no interval from zero
residuals, a tolerance in every inside/outside, the same best s·LR at every rank explained as
such, and bests at the edge of the searched range qualified in the sentence itself. Through the
functions the report calls (rank_law, rank_law_line) on crafted trial records."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from lorasweep.analysis.law import P_LINEAR, P_SQRT, P_TOLERANCE, LawFit
from lorasweep.analysis.rank_law import RankLaw, law_verdict, rank_law
from lorasweep.report.sections.rank_law import rank_law_line

from factories import config, summary, trial

LR = 2e-5  # lora_alpha: LR fixed, α = c·√r with c matched to effective_step (2e-6..2e-2)
RANKS = [4, 8, 16]
SQRT_WORDS = "p = 0.5 (rsLoRA, the paper's 256·sqrt(r)) is"
GRID = [2e-5, 2e-4, 2e-3, 2e-2 * 0.75]  # s·LR points every rank visits (a grid under matched ranges)


def _law(value_of_step: Callable[[int, float], float], ranks: list[int] = RANKS, steps: list[float] = GRID) -> RankLaw:
    """lora_alpha at ``ranks``, one trial per s·LR of ``steps`` (α = s·LR·r / LR), accuracies
    from ``value_of_step``; lr_only beside it (the law is fitted on lora_alpha)."""
    cfg = config({"ranks": ranks, "spaces": ["lr_only", "lora_alpha"]})
    alpha_trials = [
        trial(1, r, step * r / LR, LR, value_of_step(r, step), number=i) for r in ranks for i, step in enumerate(steps)
    ]
    lr_trials = [trial(2, r, 2.0 * r, 1e-3, 0.9) for r in ranks]
    law = rank_law(summary(cfg, {"lr_only": lr_trials, "lora_alpha": alpha_trials}))
    assert law is not None and law.space == "lora_alpha"
    return law


def test_same_grid_point_at_every_rank_is_an_exact_fit_explained_as_a_constant_best_step() -> None:
    """Grid sampling under matched ranges: every rank's best is the grid point s·LR = 2e-4, so
    α* ∝ r exactly (p = 1 by construction). No zero-width interval, no "p = 1 is outside", and the
    sentence says the best s·LR does not change with rank."""
    law = _law(lambda r, step: 0.95 if step == 2e-4 else 0.8)
    fit = law.fit
    assert fit is not None and fit.exact and fit.p_ci is None and fit.p == pytest.approx(1.0)
    assert law.same_step and law.p_same_step == P_LINEAR and not law.at_edge
    line = rank_law_line(law)
    assert "p in [" not in line and "outside" not in line
    assert "interval is undefined" in line and "p = 1 (alpha ∝ r) to within" in line
    assert "the best s·LR does not change with rank" in line and "no evidence for or against sqrt(r)" in line
    doc = law.as_dict()
    assert doc["p_ci"] is None and doc["p_1_inside"] is None and doc["exact"] is True and doc["same_best_step"]


def test_zero_residuals_off_the_reference_laws_give_no_interval_and_name_neither_law() -> None:
    """α* exactly on α = 3·r^0.75 (residual variance 0): p = 0.75, exact, neither 0.5 nor 1."""
    fit_only = LawFit(c=3.0, p=0.75, c_ci=None, p_ci=None, n=3, exact=True)
    text = law_verdict(fit_only)
    assert "interval is undefined" in text and "neither p = 0.5 nor p = 1" in text and "outside" not in text


def test_inside_and_outside_use_a_tolerance_not_float_equality() -> None:
    """The issue's "p = 0.99999 (0.99999, 0.99999) → p = 1 is outside": an interval that ends a
    rounding error short of 1 holds 1; one that ends clearly short of it does not."""
    near = LawFit(c=2.0, p=0.9999995, c_ci=(1.0, 3.0), p_ci=(0.62, 0.9999995), n=4)
    assert near.contains_p(P_LINEAR) is True and near.contains_p(P_SQRT) is False
    assert "p = 1 (alpha = r, 2r) is inside" in law_verdict(near)
    far = LawFit(c=2.0, p=0.9, c_ci=(1.0, 3.0), p_ci=(0.8, 1.0 - 10 * P_TOLERANCE), n=4)
    assert far.contains_p(P_LINEAR) is False and "p = 1 (alpha = r, 2r) is outside" in law_verdict(far)


def test_every_rank_best_at_the_edge_is_qualified_in_the_sentence() -> None:
    """Accuracy rises with s·LR up to the top of the searched range at every rank: each α* is
    the range's edge, and the law's own sentence says the best may lie beyond it."""
    law = _law(lambda r, step: 0.6 + 0.3 * math.log10(step / 2e-6) / 4)
    assert sorted(law.at_edge) == RANKS and law.edge_everywhere
    line = rank_law_line(law)
    assert "every rank's alpha* is at the edge of the searched range: the best may lie beyond it" in line
    assert law.as_dict()["edge_everywhere"] is True


def test_some_ranks_at_the_edge_are_named_in_the_sentence() -> None:
    law = _law(lambda r, step: (0.95 if step == 2e-2 * 0.75 else 0.8) if r == 16 else (0.95 if step == 2e-4 else 0.8))
    assert law.at_edge == [16] and not law.edge_everywhere
    assert "at r=16 alpha* is at the edge of the searched range: the best may lie beyond it there" in rank_law_line(law)


def test_flat_optimum_sentences_match_their_numbers_over_many_studies() -> None:
    """A flat optimum under matched ranges: the value does not depend on s·LR, so each rank's best
    is a noise draw among the same grid points and p scatters around 1 (by construction, not
    evidence against √r). Over 60 simulated studies every sentence agrees with its own numbers:
    inside/outside as the interval (with its tolerance) says, "does not change with rank" whenever
    p = 1 is inside, and no interval where the fit is exact."""
    rng = np.random.default_rng(21)
    checked = 0
    steps = [2e-5 * 10 ** (k / 4) for k in range(9)]  # interior grid, 2e-5 .. 2e-3
    for _ in range(60):
        noise = {(r, s): float(rng.normal(0.9, 0.01)) for r in RANKS for s in steps}
        law = _law(lambda r, step, noise=noise: round(noise[(r, step)] * 128) / 128, steps=steps)
        fit, line = law.fit, rank_law_line(law)
        assert fit is not None
        if fit.exact or fit.p_ci is None:
            assert "p in [" not in line and "outside" not in line
            continue
        assert fit.p_ci[1] > fit.p_ci[0]  # never a zero-width interval
        for p, words in (
            (P_LINEAR, "p = 1 (alpha = r, 2r) is"),
            (P_SQRT, SQRT_WORDS),
        ):
            if fit.p_ambiguous:
                assert "too wide to tell" in line
            else:
                assert f"{words} {'inside' if fit.contains_p(p) else 'outside'}" in line
        if fit.contains_p(P_LINEAR):
            assert "the best s·LR does not change with rank" in line
        checked += 1
    assert checked >= 30
