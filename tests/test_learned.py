"""Did a study learn anything (lorasweep.analysis.learned): the chance test and the untrained start."""

from __future__ import annotations

import pytest
import scipy.stats

from lorasweep.analysis.learned import LearnedTest, study_learned
from lorasweep.config import Direction
from lorasweep.store import TrialState

from factories import config, curve, trial

TASK = config().task  # tiny_sentiment: 2 labels, 128 eval examples


def test_chance_level_is_one_over_the_labels_for_accuracy_only() -> None:
    assert TASK.chance("accuracy") == 0.5
    assert TASK.chance("eval_loss") is None and TASK.chance("f1") is None
    assert TASK.model_copy(update={"num_labels": 4}).chance("accuracy") == 0.25


@pytest.mark.parametrize(
    ("values", "learned"),
    [
        ([0.9, 0.6, 0.55], True),  # 115/128 right: far above 1/2
        ([0.45, 0.41, 0.47], False),  # every trial below chance (the case)
        ([0.5, 0.5], False),  # at chance
    ],
)
def test_chance_test_on_accuracy(values: list[float], learned: bool) -> None:
    trials = [trial(1, 8, 16.0 * (i + 1), 2e-5, v) for i, v in enumerate(values)]
    verdict = study_learned(trials, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK)
    assert verdict.test is LearnedTest.CHANCE and verdict.learned is learned
    assert "chance 1/2" in verdict.reason and "Bonferroni" in verdict.reason


def test_chance_test_pays_for_picking_the_best_of_many_trials() -> None:
    """77/128 right: one-sided binomial p ≈ 0.013 against 1/2. As the only trial that is learning;
    as the best of 5 trials (p × 5 ≈ 0.065) it may be the luckiest of five at chance."""
    p_one = scipy.stats.binomtest(77, 128, 0.5, alternative="greater").pvalue
    assert 0.05 / 5 < p_one < 0.05  # significant alone, not as the best of five
    alone = study_learned(
        [trial(1, 8, 16.0, 2e-5, 77 / 128)], {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK
    )
    assert alone.learned is True and f"p = {p_one:.2g}" in alone.reason
    five = [trial(1, 8, 16.0, 2e-5, 77 / 128)] + [trial(1, 8, 32.0, 2e-5, 0.5) for _ in range(4)]
    many = study_learned(five, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK)
    assert many.learned is False and f"p = {5 * p_one:.2g}" in many.reason and "x 5 trials" in many.reason


def test_untrained_start_is_the_evaluation_with_the_least_cumulative_effective_step() -> None:
    """eval_loss has no chance level: the best is compared with the evaluation that moved ΔW least
    (s·LR × step). Here the earliest step belongs to a fast trial (s·LR = 1e-3) that is already
    good at step 10; the least-moved evaluation is the slow trial's (s·LR = 1e-6) step 20."""
    fast = trial(1, 8, 8.0 * 50, 8e-7 * 20, 0.30, number=0)  # s = 50, LR 1.6e-5: s·LR = 8e-4
    slow = trial(1, 8, 8.0, 1e-6, 0.70, number=1)  # s = 1: s·LR = 1e-6
    curves = {fast.id: curve(fast, [10, 20], [0.35, 0.30]), slow.id: curve(slow, [10, 20], [None, 0.70])}
    verdict = study_learned([fast, slow], curves, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert verdict.test is LearnedTest.UNTRAINED_START and verdict.learned is True
    assert "than 0.7, the least-trained evaluation" in verdict.reason and "trial 1 at step 20" in verdict.reason


def test_untrained_start_flags_a_study_whose_best_is_no_better() -> None:
    a = trial(1, 8, 8.0, 1e-6, 0.70, number=0)
    b = trial(1, 8, 800.0, 1e-6, 0.71, number=1)
    curves = {a.id: curve(a, [10, 20], [0.69, 0.70]), b.id: curve(b, [10, 20], [0.69, 0.71])}
    verdict = study_learned([a, b], curves, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert verdict.learned is False and "no better than 0.69" in verdict.reason


def test_a_study_with_nothing_to_compare_is_not_tested_and_kept() -> None:
    only = trial(1, 8, 8.0, 1e-6, 0.3)
    verdict = study_learned(
        [only], {only.id: curve(only, [20], [0.3])}, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK
    )
    assert verdict.learned is None and verdict.test is LearnedTest.NONE and "not tested" in verdict.reason
    # without curves a trial's own final value is its only evaluation; a pruned trial's counts
    pruned = trial(1, 8, 800.0, 1e-6, 0.6, state=TrialState.PRUNED, steps=10)
    verdict = study_learned([only, pruned], {}, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert verdict.learned is True and "0.6, the least-trained evaluation" in verdict.reason
    none = study_learned([pruned], {}, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert none.learned is None and none.reason == "no complete trial"
