"""The anytime chart's interquartile band (``compare --repeats``): a quartile of repeats that have
found nothing yet is drawn at the chart's worst value, never as a hole (plotly's ``tonexty`` fill
bridged such holes with diagonal polygons that no repeat ever reached), and the band starts where
the better quartile first has a value."""

from __future__ import annotations

import math

import numpy as np
from plotly.subplots import make_subplots

from lorasweep.analysis.anytime_band import Band, band
from lorasweep.config import Direction
from lorasweep.report.sections.repeats import _band_traces, _edge


def _drawn(b: Band, minimize: bool) -> tuple[list[float], list[float], list[float], list[float]]:
    fig = make_subplots(rows=1, cols=2)
    edge = _edge([b], minimize)
    assert edge is not None
    _band_traces(fig, b, name="s", colour="#1f77b4", col=1, legend=True, minimize=minimize, edge=edge)
    hi, lo, median = fig.data
    return list(hi.x), list(hi.y), list(lo.y), list(median.y)


def test_a_maximized_band_reaches_the_floor_while_a_quartile_has_nothing() -> None:
    # three repeats: one finds 0.6 at x=1, another 0.9 at x=2, the last only at x=3 (0.7)
    curves = [[(1.0, 0.6), (3.0, 0.6)], [(2.0, 0.9), (3.0, 0.9)], [(3.0, 0.7)]]
    b = band(curves, [0.5, 1.0, 2.0, 3.0], Direction.MAXIMIZE)
    assert b.hi[0] is None and b.lo[1] is None  # before anything, and a quartile with nothing yet
    x, hi, lo, median = _drawn(b, minimize=False)
    assert x == [1.0, 2.0, 3.0]  # starts where the better (upper) quartile has a value
    assert not any(math.isnan(v) for v in hi + lo)  # no hole for the fill to bridge
    assert lo[:2] == [0.6, 0.6] and min(lo) == 0.6  # "nothing yet" drawn at the chart's worst value
    assert all(low <= high for low, high in zip(lo, hi, strict=True))


def test_a_minimized_band_reaches_the_ceiling_instead() -> None:
    curves = [[(1.0, 0.4), (3.0, 0.4)], [(2.0, 0.2), (3.0, 0.2)], [(3.0, 0.3)]]
    b = band(curves, [1.0, 2.0, 3.0], Direction.MINIMIZE)
    x, hi, lo, median = _drawn(b, minimize=True)
    assert not any(math.isnan(v) for v in hi + lo)
    assert max(hi) == 0.4 and all(low <= high for low, high in zip(lo, hi, strict=True))
    assert np.isnan(median[0]) or median[0] == 0.4
