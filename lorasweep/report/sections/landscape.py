"""The LR × α landscape of the space that searches both: every trial in the (LR, α) plane, lines of
constant s·LR, and how much of the metric's spread s·LR alone explains."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.analysis.landscape import Landscape, landscape
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _share(x: float | None) -> str:
    return fmt.MISSING if x is None else fmt.percent(x)


@register
class LandscapeSection(Section[Landscape]):
    name = "landscape"
    title = "LR × α landscape"
    order = 80
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> Landscape | None:
        return landscape(summary)

    def json(self, summary: ExperimentSummary, data: Landscape) -> dict[str, Any]:
        return {"landscape": data.as_dict()}

    def text(self, summary: ExperimentSummary, data: Landscape) -> list[str]:
        return [
            f"LR × α landscape on {data.space_reason} (r={data.rank}, {len(data.points)} complete trials): "
            f"s·LR alone explains {_share(data.effective_step_r2)} of the {fmt.metric_word(summary.metric)} spread "
            f"(α alone {_share(data.alpha_r2)}, LR alone {_share(data.lr_r2)})."
        ]

    def figures(self, summary: ExperimentSummary, data: Landscape) -> list[go.Figure]:
        import plotly.graph_objects as go

        land = data
        if not land.points:
            return []
        q = fmt.metric(summary.metric)
        fig = plot.figure(
            f"LR × α landscape ({land.space}, r={land.rank}); s·LR explains {_share(land.effective_step_r2)} "
            f"of the {fmt.metric_word(summary.metric)} spread",
            fmt.LR,
            fmt.ALPHA,
            log_x=True,
            log_y=True,
        )
        fig.add_trace(
            go.Scatter(
                x=[t.lr for t in land.points],
                y=[t.alpha for t in land.points],
                mode="markers",
                name=land.space,
                marker={
                    "size": 14,
                    "color": [t.final_value for t in land.points],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": {"text": q.label}, "tickformat": q.d3},
                },
                text=[
                    f"{q.label} {q.fmt(t.final_value)} · s·LR {fmt.EFFECTIVE_STEP.fmt(t.effective_step)}"
                    for t in land.points
                ],
            )
        )
        lrs = sorted(t.lr for t in land.points)
        steps = sorted(t.effective_step for t in land.points)
        scale = land.points[0].alpha / land.points[0].scaling
        for k in range(5):  # lines of constant s·LR: α = E·r/LR (or E·√r/LR with rsLoRA)
            e = steps[0] * (steps[-1] / steps[0]) ** (k / 4) if steps[0] > 0 else 0
            fig.add_trace(
                go.Scatter(
                    x=[lrs[0], lrs[-1]],
                    y=[e * scale / lrs[0], e * scale / lrs[-1]],
                    mode="lines",
                    line={"dash": "dot", "color": "grey"},
                    name=f"s·LR = {fmt.EFFECTIVE_STEP.fmt(e)}",
                    showlegend=k in (0, 4),
                )
            )
        alphas = [t.alpha for t in land.points]
        fig.update_yaxes(range=[math.log10(min(alphas)) - 0.2, math.log10(max(alphas)) + 0.2])
        return [fig]
