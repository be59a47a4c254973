"""Did a study learn anything? One stated rule for leaving a study's α* out of a law.

The α* of a study is the α of its best complete trial. When no trial learned anything, that
best is the largest of several draws of evaluation noise and its α is arbitrary: fitting a law
through such points (or recommending from them) reports a law of the noise. :func:`study_learned`
decides, from what the store holds (each trial's final value and its evaluations over steps) and
the task (its eval set), whether the study shows learning. Each test holds its level: a study
that learned nothing is called "learned" at most ``LEVEL`` (5 %) of the time.

1. **Majority class** — accuracy on a classification task. A model that ignores its input
   predicts independently of the label, so on each example it is right with probability at most
   the share of the eval set's most frequent class (the *majority-class rate*; 1/K only on a
   balanced set). A model always predicting the majority class of a 70/30 eval set scores 0.7
   and has learned nothing. The number right is then at most Binomial(n, majority rate); the best
   accuracy ``k/n`` is the largest of the ``m`` complete trials' finals, so the one-sided exact
   binomial p-value of ``k`` against the majority rate (:func:`scipy.stats.binomtest`) is
   multiplied by ``m`` (Bonferroni: valid however the trials' errors on the shared eval set
   correlate). The study learned if that adjusted p < ``LEVEL``. The rate is read from the task's
   eval labels (:func:`majority_rate`); where they cannot be read the reason says so and the test
   uses the kind's chance level.
2. **Improved with training** — any other metric (losses, F1, perplexity, exact match). The store
   holds no evaluation of the untrained model and no per-example values, so a best value cannot be
   compared with a noise level directly: the best of ``m`` noisy finals always looks better than
   one reference evaluation (that rule called a study of pure noise "learned" ~90 % of the time).
   Instead: did the study's trials get better as they trained? For every trial with two or more
   evaluations, the change from its first (least-trained) to its last evaluation, in the metric's
   favour; the one-sided Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`) of those changes
   against 0. If nothing was learned, a trial's first and last evaluations are two draws of the
   same noise and the changes are symmetric about 0, so the test holds its level; every trial
   counts, not the selected best, so there is no selection effect. Fewer than
   :data:`MIN_PAIRS` such trials cannot reach significance: not tested (kept).
"""

from __future__ import annotations

import enum
import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from lorasweep.config import Direction, TaskFields
from lorasweep.store import TrialCurve, TrialRecord, TrialState

__all__ = ["LEVEL", "MIN_PAIRS", "LearnedTest", "LearnedVerdict", "majority_rate", "study_learned"]

#: Significance level of both tests (after the Bonferroni adjustment of the majority-class test).
LEVEL = 0.05
#: Trials with a first and a last evaluation the Wilcoxon test needs: with 4 the smallest
#: one-sided p-value is 1/16 > 0.05, so fewer can never show learning.
MIN_PAIRS = 5


class LearnedTest(enum.StrEnum):
    MAJORITY_CLASS = "majority_class"
    IMPROVED = "improved_with_training"
    NONE = "none"  # nothing to test with


@dataclass(frozen=True, kw_only=True)
class LearnedVerdict:
    """``learned``: True, False, or None when the study could not be tested (then it is kept)."""

    learned: bool | None
    test: LearnedTest
    reason: str
    p_value: float | None = None


@dataclass(frozen=True, kw_only=True)
class MajorityRate:
    """The share of the eval set's most frequent class, and where it came from."""

    rate: float
    source: str


@functools.lru_cache(maxsize=16)
def _eval_label_share(task_json: str, task_type: type) -> float | None:
    task = task_type.model_validate_json(task_json)
    labels = list(task.examples()[1].labels)
    if not labels:
        return None
    return max(Counter(labels).values()) / len(labels)


def majority_rate(task: TaskFields, metric: str) -> MajorityRate | None:
    """The accuracy of always predicting the eval set's most frequent class, for a task whose
    ``metric`` has a chance level (classification accuracy); None for other metrics. Read from the
    task's eval labels (``task.examples()``); where they cannot be read (data not available here),
    the kind's chance level, with the reason saying so."""
    chance = task.chance(metric)
    if chance is None:
        return None
    if callable(getattr(task, "examples", None)):
        try:
            share = _eval_label_share(task.model_dump_json(), type(task))
        except Exception as exc:  # any data error: say so, and test against the kind's level
            return MajorityRate(
                rate=chance, source=f"chance {_fraction(chance)} (eval labels not readable here: {exc}; lenient)"
            )
        if share is not None:
            return MajorityRate(rate=max(share, chance), source=f"the eval set's majority-class rate {share:.4g}")
    return MajorityRate(rate=chance, source=f"chance {_fraction(chance)}")


def _fraction(p: float) -> str:
    """A chance level as written: ``1/K`` when it is one, else the number."""
    k = round(1 / p)
    return f"1/{k}" if abs(k * p - 1) < 1e-9 else f"{p:.3g}"


def _evaluations(trial: TrialRecord, curve: TrialCurve | None) -> list[tuple[int, float]]:
    """(step, value) of a trial's finite evaluations, in step order: its curve, else its final value."""
    if curve is not None:
        pairs = [(s, v) for s, v in zip(curve.steps, curve.values, strict=True) if v is not None and math.isfinite(v)]
        return sorted(pairs)
    if trial.final_value is not None and math.isfinite(trial.final_value):
        return [(trial.steps, trial.final_value)]
    return []


def _best(done: Sequence[TrialRecord], direction: Direction) -> TrialRecord:
    best = done[0]
    for t in done[1:]:
        if direction.better(t.final_value, best.final_value):  # type: ignore[arg-type]
            best = t
    return best


def study_learned(
    trials: Sequence[TrialRecord],
    curves: Mapping[int, TrialCurve],
    *,
    direction: Direction,
    metric: str,
    task: TaskFields,
    level: float = LEVEL,
    majority: float | None = None,
) -> LearnedVerdict:
    """Whether ``trials`` (one study's) show learning; see the module docstring for the two tests
    and why. ``curves`` may hold some trials' evaluations or none. ``majority``: the eval set's
    majority-class rate when the caller knows it (default: :func:`majority_rate` of ``task``)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]
    if not done:
        return LearnedVerdict(learned=None, test=LearnedTest.NONE, reason="no complete trial")
    rate = (
        MajorityRate(rate=majority, source=f"the eval set's majority-class rate {majority:.4g}")
        if majority is not None
        else majority_rate(task, metric)
    )
    if rate is not None:
        return _majority_test(done, direction, metric, task.n_eval, rate, level)
    return _improvement_test(trials, curves, direction, metric, level)


def _majority_test(
    done: Sequence[TrialRecord], direction: Direction, metric: str, n: int, rate: MajorityRate, level: float
) -> LearnedVerdict:
    value = float(_best(done, direction).final_value)  # type: ignore[arg-type]
    k = round(value * n)
    p_raw = scipy.stats.binomtest(k, n, min(rate.rate, 1.0), alternative="greater").pvalue
    p = min(1.0, len(done) * float(p_raw))
    learned = bool(p < level)
    verb = "above" if learned else "not above"
    return LearnedVerdict(
        learned=learned,
        test=LearnedTest.MAJORITY_CLASS,
        reason=f"best {metric} {value:.4g} ({k}/{n}) is {verb} {rate.source}, what always predicting one class "
        f"scores: one-sided binomial p = {p:.2g} (x {len(done)} trials, Bonferroni; learned if < {level:g})",
        p_value=p,
    )


def _improvement_test(
    trials: Sequence[TrialRecord], curves: Mapping[int, TrialCurve], direction: Direction, metric: str, level: float
) -> LearnedVerdict:
    sign = 1.0 if direction is Direction.MAXIMIZE else -1.0
    gains = []
    for t in trials:
        evals = _evaluations(t, curves.get(t.id))
        if len(evals) >= 2:
            gains.append(sign * (evals[-1][1] - evals[0][1]))
    if len(gains) < MIN_PAIRS:
        return LearnedVerdict(
            learned=None,
            test=LearnedTest.NONE,
            reason=f"not tested: {len(gains)} trial(s) with a first and a last evaluation; the test needs "
            f"{MIN_PAIRS} or more",
        )
    arr = np.asarray(gains, dtype=float)
    test = scipy.stats.wilcoxon(arr, alternative="greater", zero_method="zsplit") if np.any(arr) else None
    p = float(test.pvalue) if test is not None else 1.0
    learned = bool(p < level)
    improved = int((arr > 0).sum())
    verb = "improved" if learned else "did not improve"
    return LearnedVerdict(
        learned=learned,
        test=LearnedTest.IMPROVED,
        reason=f"the study's trials {verb} with training: {improved} of {len(arr)} got better {metric} from their "
        f"first to their last evaluation (median change {float(np.median(arr)) * sign:+.3g}); one-sided Wilcoxon "
        f"signed-rank p = {p:.2g} (learned if < {level:g})",
        p_value=p,
    )
