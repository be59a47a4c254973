"""Issue 21 steps 5–6, measured through the functions the report calls (no Ray, no training).

- learned nothing, eval_loss: studies of pure noise (8 trials, evaluations at steps 20/40/60 drawn
  from N(0.69, 0.01)); how often ``study_learned`` calls one "learned" (before: ~90 %);
- learned nothing, accuracy: a 70/30 eval set of 128 where every trial predicts the majority class
  (90/128 right); before it was tested against 1/2 and "learned";
- the rank law on α* exactly on α = 2r (zero residuals): before a zero-width interval;
- cost to target with two equal spaces: how often the runner-up reads "not reached", with the old
  target (1 % of the leader's single-seed best) and the new one (median of 3 re-runs per space).

    python benchmarks/law_cost_checks.py --runs 400

The last line: ``law_cost: noise learned X %, majority learned B, runner-up not reached Y % (old Z %)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lorasweep.analysis.law import fit_power_law
from lorasweep.analysis.learned import study_learned
from lorasweep.analysis.rank_law import law_verdict
from lorasweep.analysis.target import cost_target
from lorasweep.config import Direction
from lorasweep.cost import TimedRun, cost_to_target_timed, target_value

from factories import config, curve, trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    task = config().task

    learned = 0
    for _ in range(args.runs):
        trials, curves = [], {}
        for j in range(8):
            values = [float(v) for v in rng.normal(0.69, 0.01, 3)]
            t = trial(1, 8, 16.0 * (j + 1), 1e-4 * (j + 1), None, number=j)
            t = dataclasses.replace(t, final_value=values[-1], best_value=min(values))
            trials.append(t)
            curves[t.id] = curve(t, [20, 40, 60], values)
        learned += bool(
            study_learned(trials, curves, direction=Direction.MINIMIZE, metric="eval_loss", task=task).learned
        )
    noise = learned / args.runs
    print(f"eval_loss, pure noise: counted as learned in {learned}/{args.runs} = {noise:.1%}")

    majority = [trial(1, 8, 16.0 * (j + 1), 2e-5, 90 / 128) for j in range(8)]
    verdict = study_learned(majority, {}, direction=Direction.MAXIMIZE, metric="accuracy", task=task, majority=90 / 128)
    print(f"accuracy, always the majority class of a 70/30 eval set: learned = {verdict.learned}: {verdict.reason}")

    fit = fit_power_law([4, 8, 16], [8.0, 16.0, 32.0])
    print(f"alpha* = 2r exactly: p = {fit.p:.6f}, interval {fit.p_ci}: {law_verdict(fit)}")

    old = new = 0
    for _ in range(args.runs):
        a, b = rng.normal(0.85, 0.02, 8), rng.normal(0.85, 0.02, 8)
        runner = b if a.max() >= b.max() else a
        timed = [TimedRun(value=float(x), device_seconds=1.0, started=k, finished=k + 1) for k, x in enumerate(runner)]
        leader = target_value(max(a.max(), b.max()), 0.01, Direction.MAXIMIZE)
        old += cost_to_target_timed(timed, leader, Direction.MAXIMIZE) is None
        reruns = {n: [trial(9, 4, 8.0, 1e-3, float(v)) for v in rng.normal(0.85, 0.02, 3)] for n in "ab"}
        goal = cost_target(config(), Direction.MAXIMIZE, reruns, {})
        new += cost_to_target_timed(timed, goal.value, Direction.MAXIMIZE) is None
    print(
        f"two equal spaces, runner-up 'not reached': {old / args.runs:.1%} against 1 % of the leader's best, "
        f"{new / args.runs:.1%} against the median of the re-runs"
    )
    print(
        f"law_cost: noise learned {noise:.1%}, majority learned {verdict.learned}, "
        f"runner-up not reached {new / args.runs:.1%} (old {old / args.runs:.1%})"
    )


if __name__ == "__main__":
    main()
