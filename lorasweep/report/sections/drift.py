"""Drift ratio over steps: ‖s·δB·δA‖ / ‖s·(δB·A + B·δA)‖, the mean over each space's trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.analysis.drift import drift_curves
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go

Curves = dict[str, list[tuple[int, float]]]


@register
class DriftSection(Section[Curves]):
    name = "drift"
    title = "Drift ratio"
    order = 60
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> Curves | None:
        return drift_curves(summary)  # {} still has its JSON key

    def json(self, summary: ExperimentSummary, data: Curves) -> dict[str, Any]:
        return {"drift_ratio": {k: [[s, v] for s, v in c] for k, c in data.items()}}

    def text(self, summary: ExperimentSummary, data: Curves) -> list[str]:
        if summary.spaces and not any(data.values()):
            return ["No drift ratio was recorded (the trials ran without diagnostics)."]
        return []

    def figures(self, summary: ExperimentSummary, data: Curves) -> list[go.Figure]:
        import plotly.graph_objects as go

        if not any(data.values()):
            return []
        fig = plot.figure(
            "Drift ratio ‖s·δB·δA‖ / ‖s·(δB·A + B·δA)‖ over steps (mean over a space's trials)",
            fmt.STEP,
            fmt.DRIFT_RATIO,
            log_y=True,
        )
        for name, curve in data.items():
            fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in curve],
                    y=[v for _, v in curve],
                    mode="lines+markers",
                    name=name,
                    line={"color": plot.color(summary, name)},
                )
            )
        return [fig]
