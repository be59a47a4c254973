"""When a trial counts as diverged: the one place that states the rule.

A trial is diverged, at the first step where any of these holds:

1. **Non-finite loss**: a training loss is NaN or ±inf.
2. **Step blow-up**: one step's training loss exceeds ``divergence_factor`` (default 10) × the
   first step's loss.
3. **Window blow-up**: at an evaluation, the mean training loss since the previous evaluation
   exceeds ``divergence_window_factor`` (default 2) × the first step's loss; the trial is diverged
   at that evaluation's step.
4. **Non-finite evaluation**: an evaluated metric is NaN or ±inf (e.g. the eval loss overflowed).

Rule 3 exists because cross-entropy on a few classes saturates: a run whose loss jumped to several
times its start and whose metric fell to chance can wander back below 10× its first loss and end
"complete" at chance, or not, depending on rounding on a particular CPU. Measured on the tiny test
model (200 steps, windows of 10–50 steps, tests/data/tiny.yaml): runs that learn or sit at chance
have window means of 0.60–0.93 × the first loss; LR 1 with α = 8 reaches 1.05–1.38× (a spike that
recovered, left complete); LR 3 with α = 4096, whose loss spiked to 8× its start with accuracy at
chance, has window means of 3.7–4.9×. A factor of 2 sits between with room on both sides.

The rule is part of the experiment's training config, so every space of a comparison is judged by
the same rule; a diverged trial's metrics are NaN and it counts against its space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DivergenceRule:
    """The thresholds of rules 2 and 3 (``None`` turns rule 3 off)."""

    step_factor: float = 10.0
    window_factor: float | None = 2.0

    def step_diverged(self, loss: float, first_loss: float) -> bool:
        """Rules 1 and 2 for one step's training loss."""
        return not math.isfinite(loss) or loss > self.step_factor * _floor(first_loss)

    def window_diverged(self, mean_loss: float, first_loss: float) -> bool:
        """Rule 3 for the mean training loss of the steps since the previous evaluation."""
        if self.window_factor is None:
            return False
        return not math.isfinite(mean_loss) or mean_loss > self.window_factor * _floor(first_loss)


def _floor(first_loss: float) -> float:
    return max(first_loss, 1e-8)
