"""Coverage of the rank law's exponent interval, before and after issue 17 (item 3).

Simulates the data a rank law is fitted to: one α* per rank, ``log α* = log c + p·log r + ε``,
``ε ~ N(0, σ²)`` (log-normal α*), with c = 256, p = 0.5, σ = 0.3, at 3 ranks (4, 16, 64) and
5 ranks (4, 8, 16, 32, 64). For each setting it counts how often the nominal 95 % interval for
p holds the true 0.5, and how often the 95 % prediction interval at the new rank 128 holds a
fresh α* drawn there.

- before: the percentile pairs bootstrap that ``lorasweep.analysis.law.fit_power_law`` used until
  this change (copied below from commit 69d86e2, 5,000 resamples; resamples with one distinct
  rank skipped). At 2 ranks it has no width at all.
- after: ``fit_power_law`` as shipped: OLS in log space, t-intervals on n − 2 df.

    python benchmarks/law_calibration.py --sims 2000

The Monte-Carlo standard error of a coverage near 95 % is √(0.95·0.05/sims) ≈ 0.5 points at 2000.
The last line: ``law_coverage: X % at 3 ranks, Y % at 5 (target 95 %)`` (the shipped method).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from lorasweep.analysis.law import fit_power_law

C_TRUE, P_TRUE, SIGMA, NEW_RANK = 256.0, 0.5, 0.3, 128
SETTINGS = {3: [4, 16, 64], 5: [4, 8, 16, 32, 64]}


def _slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise least squares ``y = a + b·x`` (the old implementation's helper)."""
    xm = x.mean(axis=-1, keepdims=True)
    ym = y.mean(axis=-1, keepdims=True)
    dx = x - xm
    slope = (dx * (y - ym)).sum(axis=-1) / (dx * dx).sum(axis=-1)
    return ym[..., 0] - slope * xm[..., 0], slope


def bootstrap_fit(ranks: np.ndarray, alphas: np.ndarray, rng: np.random.Generator, n_boot: int = 5_000):
    """The pre-change interval: percentile bootstrap of (rank, α*) pairs. Returns (p_ci, predict_ci(rank))."""
    x, y = np.log(ranks), np.log(alphas)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    rx = x[idx]
    ok = rx.min(axis=1) < rx.max(axis=1)
    boot_log_c, boot_p = _slopes(rx[ok], y[idx[ok]])
    p_ci = tuple(np.quantile(boot_p, [0.025, 0.975]))

    def predict_ci(rank: float) -> tuple[float, float]:
        values = np.exp(boot_log_c + boot_p * math.log(rank))
        lo, hi = np.quantile(values, [0.025, 0.975])
        return float(lo), float(hi)

    return p_ci, predict_ci


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated rank laws per setting")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    after_p: dict[int, float] = {}
    print(f"{'ranks':>5} {'method':<22} {'p covered':>10} {'new alpha* covered':>19} {'mean p width':>13} {'s':>6}")
    for n, ranks in SETTINGS.items():
        r = np.asarray(ranks, dtype=float)
        for method in ("before: bootstrap", "after: OLS t"):
            rng = np.random.default_rng(args.seed)  # the same data for both methods
            boot_rng = np.random.default_rng(args.seed + 1)
            covers_p = covers_new = 0
            width = 0.0
            started = time.perf_counter()
            for _ in range(args.sims):
                alphas = C_TRUE * r**P_TRUE * np.exp(rng.normal(0.0, SIGMA, size=r.size))
                fresh = C_TRUE * NEW_RANK**P_TRUE * math.exp(rng.normal(0.0, SIGMA))
                if method.startswith("before"):
                    p_ci, predict_ci = bootstrap_fit(r, alphas, boot_rng)
                    lo, hi = predict_ci(NEW_RANK)
                else:
                    fit = fit_power_law(r, alphas)
                    assert fit.p_ci is not None
                    p_ci = fit.p_ci
                    lo, hi = fit.predict_ci(NEW_RANK)
                covers_p += p_ci[0] <= P_TRUE <= p_ci[1]
                covers_new += lo <= fresh <= hi
                width += p_ci[1] - p_ci[0]
            seconds = time.perf_counter() - started
            share_p, share_new = covers_p / args.sims, covers_new / args.sims
            print(f"{n:>5} {method:<22} {share_p:>10.1%} {share_new:>19.1%} {width / args.sims:>13.3f} {seconds:>6.1f}")
            if method.startswith("after"):
                after_p[n] = share_p
    print(f"({args.sims} simulations per row, sigma = {SIGMA} in log alpha*, true law {C_TRUE:g}·r^{P_TRUE})")
    print(f"law_coverage: {100 * after_p[3]:.1f} % at 3 ranks, {100 * after_p[5]:.1f} % at 5 (target 95 %)")


if __name__ == "__main__":
    main()
