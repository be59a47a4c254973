"""How often the seed verdict names a winner: under the null (false-positive rate) and at a true
difference (power), for the percentile bootstrap lorasweep used before and the paired t-interval
it uses now (lorasweep.analysis.stats).

Model (the one the issue measured): two spaces re-run on the same n seeds,
a_i = m + u_i + e_ai + δ, b_i = m + u_i + e_bi, with a per-seed component u_i shared by both
(SD 0.05) and independent noise e (SD 0.01); δ = 0 for the false-positive rate and
δ = effect · SD(a_i - b_i) for the power. Each method's verdict names a winner when its 95 %
interval of mean(a - b) excludes 0 (the bootstrap from n >= 2, as it did; the t-interval from
n >= 3).

    python benchmarks/verdict_calibration.py [--sims 4000] [--effect 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats

from lorasweep.analysis.stats import paired_difference, paired_t_power, verdict

SEEDS = (3, 5, 10)
SD_SHARED, SD_NOISE = 0.05, 0.01


def old_bootstrap_wins(d: np.ndarray, rng: np.random.Generator, n_boot: int = 10_000) -> bool:
    """The verdict lorasweep gave before: a percentile bootstrap of mean(d) (10,000 resamples),
    a winner from two seeds on when the 95 % interval excludes 0."""
    if d.size < 2:
        return False
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return bool(lo > 0 or hi < 0)


def new_t_wins(a: np.ndarray, b: np.ndarray) -> bool:
    return verdict(paired_difference(a, b), "a", "b", "maximize", "accuracy").winner is not None


def rates(n: int, effect: float, sims: int, rng: np.random.Generator) -> tuple[float, float]:
    """(old, new) share of simulations in which the method names a winner."""
    delta = effect * SD_NOISE * math.sqrt(2)
    old = new = 0
    for _ in range(sims):
        u = rng.normal(0.0, SD_SHARED, n)
        a = 0.8 + u + rng.normal(0.0, SD_NOISE, n) + delta
        b = 0.8 + u + rng.normal(0.0, SD_NOISE, n)
        old += old_bootstrap_wins(a - b, rng)
        new += new_t_wins(a, b)
    return old / sims, new / sims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=4000, help="simulated experiments per cell")
    parser.add_argument("--effect", type=float, default=1.0, help="true difference for the power, in SDs of a - b")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    mc = 2 * math.sqrt(0.05 * 0.95 / args.sims)
    print(f"{args.sims} simulations per cell; shared per-seed SD {SD_SHARED}, noise SD {SD_NOISE}")
    print(f"Monte Carlo error of a 5 % rate: ±{100 * mc:.2f} points (2 SD)")
    print(f"power at a true difference of {args.effect:g} SD of the paired difference\n")
    head = "n   FPR old bootstrap  FPR paired t   power old bootstrap  power paired t  t-test theory"
    print(head)
    worst = 0.0
    for n in SEEDS:
        fpr_old, fpr_new = rates(n, 0.0, args.sims, rng)
        pow_old, pow_new = rates(n, args.effect, args.sims, rng)
        theory = paired_t_power(args.effect, n)
        crit = stats.t.ppf(0.975, n - 1)  # the same theory through scipy.stats.nct directly
        nc = args.effect * math.sqrt(n)
        assert math.isclose(theory, stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc), rel_tol=1e-9)
        worst = max(worst, fpr_new)
        print(
            f"{n:<3} {100 * fpr_old:>16.1f} % {100 * fpr_new:>10.1f} % "
            f"{100 * pow_old:>19.1f} % {100 * pow_new:>13.1f} % {100 * theory:>12.1f} %"
        )
    print(f"\nverdict_fpr: max {100 * worst:.1f} % at n in {{3,5,10}} (target <= 5 % + MC error)")


if __name__ == "__main__":
    main()
