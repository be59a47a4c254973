"""What every report chart shares: one colour per space, one marker per trial state, WebGL for
large traces, and a layout with human axis titles and the formats of :mod:`lorasweep.formatting`.

plotly is imported inside the functions: the terminal report never draws and should not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.store import TrialState

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from lorasweep.analysis.summary import ExperimentSummary

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
SYMBOLS = {
    TrialState.COMPLETE: "circle",
    TrialState.PRUNED: "circle-open",
    TrialState.DIVERGED: "x",
    TrialState.FAILED: "x-open",
    TrialState.RUNNING: "diamond-open",
    TrialState.INTERRUPTED: "square-open",
}
#: Above this many points a trace draws with WebGL (SVG gets slow to pan and hover).
WEBGL_POINTS = 2000


def color(summary: ExperimentSummary, space: str) -> str:
    """A space's colour, the same in every chart (by its place among the compared spaces)."""
    names = list(summary.spaces) + [n for n in summary.seed_trials if n not in summary.spaces]
    i = names.index(space) if space in names else len(names)
    return COLORS[i % len(COLORS)]


def scatter(n_points: int) -> Any:
    """``go.Scatter``, or ``go.Scattergl`` above :data:`WEBGL_POINTS` points."""
    import plotly.graph_objects as go

    return go.Scattergl if n_points > WEBGL_POINTS else go.Scatter


def figure(
    title: str, x: fmt.Quantity | str, y: fmt.Quantity | str, *, log_x: bool = False, log_y: bool = False
) -> go.Figure:
    """An empty figure with its title and axes: each axis titled by its quantity, its hovers in
    that quantity's format."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title={"text": title}, legend={"title": {"text": ""}}, margin={"t": 90})
    for axis, q, log in (("xaxis", x, log_x), ("yaxis", y, log_y)):
        spec: dict[str, Any] = {"title": {"text": q.axis if isinstance(q, fmt.Quantity) else q}}
        if log:
            spec["type"] = "log"
            spec["exponentformat"] = "e"  # 1e-3, not the SI prefixes (1m, 100µ)
        if isinstance(q, fmt.Quantity):
            spec["hoverformat"] = q.d3  # ticks stay plotly's: a fixed tick format repeats labels on a narrow range
        fig.update_layout({axis: spec})
    return fig
