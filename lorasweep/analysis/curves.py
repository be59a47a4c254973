"""Learning curves as drawn: per space, the drawn trials' evaluations (the metric against the
optimizer step), each curve thinned to at most ``MAX_CURVE_POINTS`` evenly spaced points with the
first and last kept, and the curves of a space joined into one polyline with a gap (NaN) between
two, so a chart draws one trace per space however many trials it has."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary

#: Points drawn per learning curve at most (evenly spaced evaluations, the first and last kept).
MAX_CURVE_POINTS = 100


def thin(n: int, limit: int = MAX_CURVE_POINTS) -> range | list[int]:
    """Indices of at most ``limit`` of ``n`` points, evenly spaced, the first and last kept."""
    if n <= limit:
        return range(n)
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


@dataclass(frozen=True, kw_only=True)
class SpaceCurves:
    steps: list[float] = field(repr=False)  # NaN between two curves
    values: list[float] = field(repr=False)
    trial_ids: list[int] = field(repr=False)  # the trial each point belongs to (-1 at a gap)
    n_drawn: int  # curves drawn
    n_trials: int  # trials of the space

    @property
    def sampled(self) -> bool:
        return self.n_drawn < self.n_trials


def learning_curves(summary: ExperimentSummary) -> dict[str, SpaceCurves]:
    """Per space, its drawn trials' curves (see :func:`lorasweep.analysis.summary.curve_trials`)."""
    out: dict[str, SpaceCurves] = {}
    for name, s in summary.spaces.items():
        xs: list[float] = []
        ys: list[float] = []
        ids: list[int] = []
        n = 0
        for t in s.drawn:
            if (curve := summary.curves.get(t.id)) is None:
                continue
            pairs = zip(curve.steps, curve.values, strict=True)
            points = [(x, y) for x, y in pairs if y is not None and math.isfinite(y)]
            if not points:
                continue
            n += 1
            for k in thin(len(points)):
                xs.append(points[k][0])
                ys.append(points[k][1])
            ids += [t.id] * (len(xs) - len(ids))
            xs.append(math.nan)
            ys.append(math.nan)
            ids.append(-1)
        out[name] = SpaceCurves(steps=xs[:-1], values=ys[:-1], trial_ids=ids[:-1], n_drawn=n, n_trials=len(s.trials))
    return out
