"""Did a study learn anything? One stated rule for leaving a study's α* out of a law.

The α* of a study is the α of its best complete trial. When no trial learned anything, that
best is the largest of several draws of evaluation noise and its α is arbitrary: fitting a law
through such points (or recommending from them) reports a law of the noise. :func:`study_learned`
decides, from what the store holds (each trial's final value and its evaluations over steps, the
task's label count and eval size), whether the study's best shows learning. Two tests, the first
that applies decides:

1. **Chance** — the study's metric has a chance level by the task's kind (``task.chance(metric)``:
   ``accuracy`` on a classification task with ``K`` labels, whose chance is ``1/K``) and ``n``
   eval examples. A model that learned nothing from its input predicts independently of the
   label; on a balanced eval set it is right on each example with probability ``1/K``, so the
   number right is at most Binomial(n, 1/K). The best accuracy ``k/n`` is the largest of the ``m``
   complete trials' finals, so the one-sided exact binomial p-value of ``k`` against ``1/K``
   (:func:`scipy.stats.binomtest`) is multiplied by ``m`` (Bonferroni: valid however the trials'
   errors on the shared eval set correlate). The study learned if that adjusted p < 0.05. On an
   imbalanced eval set the majority class beats ``1/K``, and the test is lenient there (it keeps
   points rather than dropping them); the store does not hold the label counts.
2. **Untrained start** — any other metric (losses, F1, perplexity, exact match). The store holds no
   evaluation of the untrained model and no per-example values to size the noise of these
   metrics, so the test compares the study's best final value with the *least-trained evaluation
   it holds*: among every evaluation of every trial of the study (the best trial's final one
   excepted), the one with the smallest cumulative effective step ``s·LR × step`` — to first order
   how far ΔW can have moved from its zero start under AdamW (``DESIGN.md``). The study learned if
   its best is strictly better than that evaluation. Without a noise model this flags only a best
   that is no better at all; it cannot flag a small gain that is noise. A study with no other
   evaluation cannot be tested and is kept (``learned`` is None).

Test 2 is not applied to accuracy: when every trial learns fast, the least-trained evaluation
already sits far above chance and a best within noise of it would be left out wrongly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import scipy.stats

from lorasweep.config import Direction, TaskFields
from lorasweep.store import TrialCurve, TrialRecord, TrialState

__all__ = ["LEVEL", "LearnedTest", "LearnedVerdict", "study_learned"]

#: Significance level of the chance test (after the Bonferroni adjustment).
LEVEL = 0.05


class LearnedTest(enum.StrEnum):
    CHANCE = "chance"
    UNTRAINED_START = "untrained_start"
    NONE = "none"  # nothing to test with


@dataclass(frozen=True, kw_only=True)
class LearnedVerdict:
    """``learned``: True, False, or None when the study could not be tested (then it is kept)."""

    learned: bool | None
    test: LearnedTest
    reason: str


def _fraction(p: float) -> str:
    """A chance level as written: ``1/K`` when it is one, else the number."""
    k = round(1 / p)
    return f"1/{k}" if abs(k * p - 1) < 1e-9 else f"{p:.3g}"


def _evaluations(trial: TrialRecord, curve: TrialCurve | None) -> list[tuple[int, float]]:
    """(step, value) of a trial's finite evaluations: its curve, else its final value."""
    if curve is not None:
        return [(s, v) for s, v in zip(curve.steps, curve.values, strict=True) if v is not None and math.isfinite(v)]
    if trial.final_value is not None and math.isfinite(trial.final_value):
        return [(trial.steps, trial.final_value)]
    return []


def study_learned(
    trials: Sequence[TrialRecord],
    curves: Mapping[int, TrialCurve],
    *,
    direction: Direction,
    metric: str,
    task: TaskFields,
    level: float = LEVEL,
) -> LearnedVerdict:
    """Whether the best complete trial of ``trials`` (one study's) shows learning; see the module
    docstring for the two tests and why. ``curves`` may hold some trials' evaluations or none."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]
    if not done:
        return LearnedVerdict(learned=None, test=LearnedTest.NONE, reason="no complete trial")
    best = done[0]
    for t in done[1:]:
        if direction.better(t.final_value, best.final_value):  # type: ignore[arg-type]
            best = t
    value = float(best.final_value)  # type: ignore[arg-type]

    chance = task.chance(metric)
    if chance is not None:
        n = task.n_eval
        k = round(value * n)
        p_raw = scipy.stats.binomtest(k, n, chance, alternative="greater").pvalue
        p = min(1.0, len(done) * float(p_raw))
        learned = p < level
        verb = "above" if learned else "not above"
        return LearnedVerdict(
            learned=learned,
            test=LearnedTest.CHANCE,
            reason=f"best {metric} {value:.4g} ({k}/{n}) is {verb} chance {_fraction(chance)}: one-sided binomial "
            f"p = {p:.2g} (x {len(done)} trials, Bonferroni; learned if < {level:g})",
        )

    candidates = []
    for t in trials:
        evals = _evaluations(t, curves.get(t.id))
        if t.id == best.id:
            evals = evals[:-1]  # its final evaluation is the best value itself
        candidates += [(t.effective_step * step, step, v, t) for step, v in evals]
    if not candidates:
        return LearnedVerdict(
            learned=None,
            test=LearnedTest.NONE,
            reason="not tested: the study holds no evaluation besides its best trial's final one",
        )
    moved, step, ref, ref_trial = min(candidates, key=lambda c: (c[0], c[1]))
    learned = direction.better(value, ref)
    verb = "better" if learned else "no better"
    return LearnedVerdict(
        learned=learned,
        test=LearnedTest.UNTRAINED_START,
        reason=f"best {metric} {value:.4g} is {verb} than {ref:.4g}, the least-trained evaluation of the study "
        f"(trial {ref_trial.optuna_number if ref_trial.optuna_number is not None else ref_trial.id} at step {step}, "
        f"s·LR × step = {moved:.3g})",
    )
