"""Did a study learn anything (lorasweep.analysis.learned): accuracy against the eval set's
majority-class rate, other metrics by whether the trials improved with training; both hold their
level under the null (simulated studies that learned nothing)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from lorasweep.analysis.learned import LEVEL, LearnedTest, majority_rate, study_learned
from lorasweep.config import Direction, load_task
from lorasweep.store import TrialRecord, TrialState

from factories import config, curve, trial

TASK = config().task  # tiny_sentiment: 2 labels, 128 eval examples


def _valued(t: TrialRecord, value: float) -> TrialRecord:
    return dataclasses.replace(t, final_value=value, best_value=value)


def test_majority_rate_is_read_from_the_eval_labels_for_accuracy_only() -> None:
    rate = majority_rate(TASK, "accuracy")
    assert rate is not None and 0.5 <= rate.rate < 0.6 and "majority-class rate" in rate.source
    assert majority_rate(TASK, "eval_loss") is None and majority_rate(TASK, "f1") is None


def test_majority_rate_of_an_imbalanced_data_task(tmp_path: Path) -> None:
    """A 70/30 eval set (a local JSONL file): the rate is 0.7, not 1/2."""
    rows = [{"text": f"text {i}", "label": int(i % 10 >= 7)} for i in range(300)]  # 70 % label 0
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "t.yaml"
    spec.write_text(
        f"name: imbalanced\nkind: classification\nnum_labels: 2\nn_train: 100\nn_eval: 100\ndata: {{path: {data}}}\n"
    )
    task = load_task(str(spec))
    rate = majority_rate(task, "accuracy")
    assert rate is not None and rate.rate == pytest.approx(0.7, abs=0.08)  # held out at random from the file


def test_always_the_majority_class_has_not_learned() -> None:
    """The issue's case: a 70/30 eval set, every trial predicts the majority class (accuracy 0.7).
    Against 1/2 that was "learned" (p = 6.8e-20); against the majority-class rate it is not."""
    trials = [trial(1, 8, 16.0 * (i + 1), 2e-5, 90 / 128) for i in range(8)]
    verdict = study_learned(trials, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK, majority=90 / 128)
    assert verdict.test is LearnedTest.MAJORITY_CLASS and verdict.learned is False
    assert "majority-class rate 0.7031" in verdict.reason and verdict.p_value == 1.0
    better = [trial(1, 8, 16.0, 2e-5, 115 / 128), *trials[1:]]
    assert (
        study_learned(better, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK, majority=90 / 128).learned
        is True
    )


def test_majority_test_holds_its_level_when_nothing_is_learned() -> None:
    """Null: each trial's accuracy is what a model ignoring its input scores on a 70/30 eval set of
    128 examples (right with probability 0.7 on each). Called "learned" at most 5 % (+ margin)."""
    rng = np.random.default_rng(21)
    n, runs, learned = 128, 400, 0
    for _ in range(runs):
        values = rng.binomial(n, 0.7, size=6) / n
        trials = [trial(1, 8, 16.0 * (i + 1), 2e-5, float(v)) for i, v in enumerate(values)]
        learned += bool(
            study_learned(trials, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK, majority=0.7).learned
        )
    assert learned / runs <= 0.07


def test_majority_test_pays_for_picking_the_best_of_many_trials() -> None:
    """77/128 right: one-sided binomial p ≈ 0.013 against 1/2. As the only trial: learned; as the
    best of 5 trials (p × 5 ≈ 0.065) it may be the luckiest of five at chance."""
    p_one = scipy.stats.binomtest(77, 128, 0.5, alternative="greater").pvalue
    assert 0.05 / 5 < p_one < 0.05
    alone = study_learned(
        [trial(1, 8, 16.0, 2e-5, 77 / 128)],
        {},
        direction=Direction.MAXIMIZE,
        metric="accuracy",
        task=TASK,
        majority=0.5,
    )
    assert alone.learned is True and f"p = {p_one:.2g}" in alone.reason
    five = [trial(1, 8, 16.0, 2e-5, 77 / 128)] + [trial(1, 8, 32.0, 2e-5, 0.5) for _ in range(4)]
    many = study_learned(five, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=TASK, majority=0.5)
    assert many.learned is False and f"p = {5 * p_one:.2g}" in many.reason and "x 5 trials" in many.reason


def _noise_study(rng: np.random.Generator, n_trials: int, drop: float = 0.0) -> tuple[list[TrialRecord], dict]:
    """eval_loss evaluated at steps 20, 40, 60: noise around 0.69, minus ``drop`` per evaluation
    after the first (0: a study that learned nothing)."""
    trials, curves = [], {}
    for i in range(n_trials):
        values = [float(v) - drop * k for k, v in enumerate(rng.normal(0.69, 0.01, size=3))]
        t = _valued(trial(1, 8, 16.0 * (i + 1), 1e-4 * (i + 1), None, number=i), values[-1])
        trials.append(t)
        curves[t.id] = curve(t, [20, 40, 60], values)
    return trials, curves


@pytest.mark.parametrize("n_trials", [5, 8, 20])
def test_loss_of_pure_noise_counts_as_learned_at_most_at_the_level(n_trials: int) -> None:
    """The issue's case: a study of pure noise counted as learned 89 % of the time (its best of m
    noisy finals always beat the one least-trained evaluation). Now at most 5 % (+ margin)."""
    rng = np.random.default_rng(n_trials)
    runs = 400
    learned = sum(
        bool(
            study_learned(
                *_noise_study(rng, n_trials), direction=Direction.MINIMIZE, metric="eval_loss", task=TASK
            ).learned
        )
        for _ in range(runs)
    )
    assert learned / runs <= LEVEL + 0.02


def test_loss_that_falls_with_training_is_learned() -> None:
    rng = np.random.default_rng(3)
    trials, curves = _noise_study(rng, 8, drop=0.05)
    verdict = study_learned(trials, curves, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert verdict.test is LearnedTest.IMPROVED and verdict.learned is True
    assert "8 of 8 got better eval_loss" in verdict.reason and "Wilcoxon" in verdict.reason


def test_too_few_trials_with_two_evaluations_are_not_tested_and_kept() -> None:
    rng = np.random.default_rng(4)
    trials, curves = _noise_study(rng, 4, drop=0.05)
    verdict = study_learned(trials, curves, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert verdict.learned is None and verdict.test is LearnedTest.NONE and "needs 5 or more" in verdict.reason
    # without curves a trial's final value is its only evaluation: nothing to pair
    assert study_learned(trials, {}, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK).learned is None
    pruned = trial(1, 8, 800.0, 1e-6, 0.6, state=TrialState.PRUNED, steps=10)
    none = study_learned([pruned], {}, direction=Direction.MINIMIZE, metric="eval_loss", task=TASK)
    assert none.learned is None and none.reason == "no complete trial"
