"""How often the seed verdict names a winner, before and after issue 21, in the cases LoRA users
hit (lorasweep.analysis.verdict_sim draws them; lorasweep.analysis.paired is the verdict).

- Null scenarios (no difference in typical outcome or in failure risk): the share of simulated
  experiments in which a winner is named (false winners) at 3, 5 and 10 seeds, and over all looks
  of the sequential procedure (``compare --seeds auto``: looks at 7, 10, 13, 16, 20 seeds, stop at
  the first winner). "Before" at 3/5/10: the paired t-interval with failures counted at the worst
  value and ranks averaged per seed; "before, advice": 3 seeds, then the "about N seeds would
  detect it" the old verdict advised (capped at 20), looked at again.
- Risk scenarios: how often A and B are named better, and how often A is named better without
  its downside (failures, drops and their size) in the same sentence — which must be never.
- Power: a clean shift of 2 SDs of the paired differences; the share detected within 10 seeds.

    python benchmarks/verdict_calibration.py [--sims 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from lorasweep.analysis.sign_test import MAX_UNITS, min_units
from lorasweep.analysis.verdict_sim import (
    NULL_SCENARIOS,
    RISK_SCENARIOS,
    draw,
    new_verdict,
    old_verdict_winner,
    run_old_advice,
    run_sequential,
    selection,
    sequential_schedule,
    shift,
)

SEEDS = (3, 5, 10)


def names_downside(text: str) -> bool:
    """Whether a verdict naming A better states A's downside in its first sentence."""
    head = text.split(";")[0]
    return "A did not complete" in head or "A fell below" in head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated experiments per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before-only", action="store_true", help="only the old verdict's columns")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sims = args.sims
    schedule = sequential_schedule()
    mc = 2 * math.sqrt(0.05 * 0.95 / sims)
    print(f"{sims} simulated experiments per cell; Monte Carlo error of a 5 % rate ±{100 * mc:.1f} points (2 SD)")
    print(f"minimum seeds for any verdict: {min_units()} (sequential, up to {MAX_UNITS}); looks {schedule}\n")

    def pct(x: float) -> str:
        return f"{100 * x:5.1f} %"

    print("False winners under the null (share of experiments naming a winner)")
    head = f"{'scenario':<44} " + "  ".join(f"old n={n:<2}" for n in SEEDS) + "  old advice"
    if not args.before_only:
        head += "  " + "  ".join(f"new n={n:<2}" for n in SEEDS) + "  new all looks  mean seeds"
    print(head)
    worst = 0.0
    rows = dict(NULL_SCENARIOS)
    rows["selection 0.006, test split with its own 0.006 offset"] = selection(0.006, test_offset=0.006)
    for name, scenario in rows.items():
        old = [
            sum(old_verdict_winner(draw(scenario, rng, n, old=True))[0] is not None for _ in range(sims)) / sims
            for n in SEEDS
        ]
        advice = sum(run_old_advice(scenario, rng) is not None for _ in range(sims)) / sims
        line = f"{name:<44} " + "  ".join(f"{pct(x):>8}" for x in old) + f"  {pct(advice):>10}"
        if not args.before_only:
            new = [
                sum(new_verdict(draw(scenario, rng, n)).winner is not None for _ in range(sims)) / sims for n in SEEDS
            ]
            seq = [run_sequential(scenario, rng, schedule) for _ in range(sims)]
            seq_rate = sum(v.winner is not None for v, _ in seq) / sims
            used = sum(k for _, k in seq) / sims
            if "own 0.006" not in name:
                worst = max(worst, *new, seq_rate)
            line += "  " + "  ".join(f"{pct(x):>8}" for x in new) + f"  {pct(seq_rate):>13}  {used:10.1f}"
        print(line)
    if not args.before_only:
        print(
            f"\nverdict_fpr: max {100 * worst:.1f} % (new, every null scenario but the sensitivity row; target <= 7 %)"
        )

    print("\nRisk scenarios (share of experiments)")
    head = f"{'scenario':<44} {'n':>3}  old A better  old B better"
    if not args.before_only:
        head += "  new A better  A w/o downside  new B better"
    print(head)
    for name, scenario in RISK_SCENARIOS.items():
        for n in (*SEEDS, "auto"):
            if n == "auto":
                if args.before_only:
                    continue
                got = [run_sequential(scenario, rng, schedule)[0] for _ in range(sims)]
                line = f"{name:<44} {'auto':>4}  {'':>12}  {'':>12}"
            else:
                old = [old_verdict_winner(draw(scenario, rng, n, old=True))[0] for _ in range(sims)]
                line = f"{name:<44} {n:>3}   {pct(old.count('A') / sims):>11}  {pct(old.count('B') / sims):>11}"
                got = [] if args.before_only else [new_verdict(draw(scenario, rng, n)) for _ in range(sims)]
            if not args.before_only:
                a = [v for v in got if v.winner == "A"]
                bad = sum(not names_downside(v.text) for v in a if v.downside_a.any)
                line += (
                    f"  {pct(len(a) / sims):>12}  {pct(bad / sims):>14}"
                    f"  {pct(sum(v.winner == 'B' for v in got) / sims):>12}"
                )
            print(line)

    effect = 2.0
    power_scn = shift(effect)
    old10 = sum(old_verdict_winner(draw(power_scn, rng, 10))[0] == "A" for _ in range(sims)) / sims
    print(f"\nPower at a clean shift of {effect:g} SD of the paired differences")
    print(f"old paired t at 10 seeds: {pct(old10)}")
    if not args.before_only:
        new10 = sum(new_verdict(draw(power_scn, rng, 10)).winner == "A" for _ in range(sims)) / sims
        seq = [run_sequential(power_scn, rng, schedule) for _ in range(sims)]
        within10 = sum(v.winner == "A" and k <= 10 for v, k in seq) / sims
        print(f"new sign test, one look at 10 seeds: {pct(new10)}")
        print(f"new sequential (--seeds auto), decided within 10 seeds: {pct(within10)}")
        print(f"new sequential, decided by {MAX_UNITS} seeds: {pct(sum(v.winner == 'A' for v, _ in seq) / sims)}")


if __name__ == "__main__":
    main()
