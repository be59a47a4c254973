"""Search cost: device- and wall seconds per space, device-seconds until the best value first came
within the target, and the best value so far against cumulative device-seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Row, Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


@register
class CostSection(Section[ExperimentSummary]):
    name = "cost"
    title = "Search cost"
    order = 20
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> ExperimentSummary | None:
        return summary if summary.spaces else None

    def json(self, summary: ExperimentSummary, data: ExperimentSummary) -> dict[str, Any]:
        return {
            "spaces": {
                name: {
                    "device_seconds": s.device_seconds,
                    "wall_seconds": s.wall_seconds,
                    "cost_to_target": s.cost_to_target,
                }
                for name, s in data.spaces.items()
            }
        }

    def rows(self, summary: ExperimentSummary, data: ExperimentSummary) -> list[Row]:
        spaces = data.spaces
        target = f"within {fmt.percent(summary.within)} of the best"
        return [
            Row(label="Device-seconds (search)", cells={n: [fmt.seconds(s.device_seconds)] for n, s in spaces.items()}),
            Row(
                label="Wall seconds (search)",
                cells={n: [fmt.WALL_SECONDS.fmt(s.wall_seconds)] for n, s in spaces.items()},
            ),
            Row(
                label=f"Device-seconds to target ({target})",
                cells={
                    n: [fmt.seconds(s.cost_to_target) if s.cost_to_target is not None else "not reached"]
                    for n, s in spaces.items()
                },
            ),
        ]

    def figures(self, summary: ExperimentSummary, data: ExperimentSummary) -> list[go.Figure]:
        q = fmt.metric(summary.metric)
        fig = plot.figure(f"Best {fmt.metric_word(summary.metric)} so far vs search cost", fmt.DEVICE_SECONDS, q)
        fig.update_layout(xaxis_title_text="Cumulative device-seconds")
        for name, s in data.spaces.items():
            best = [(c, v) for c, v in s.best_so_far if v is not None]
            if not best:
                continue
            fig.add_trace(
                plot.scatter(len(best))(
                    x=np.array([c for c, _ in best], dtype=float),
                    y=np.array([v for _, v in best], dtype=float),
                    mode="lines+markers" if len(best) <= 500 else "lines",
                    line_shape="hv",
                    name=name,
                    line={"color": plot.color(summary, name)},
                )
            )
        if summary.target is not None:
            fig.add_hline(
                y=summary.target,
                line_dash="dot",
                annotation_text=f"target: within {fmt.percent(summary.within)} of the best ({q.fmt(summary.target)})",
            )
        return [fig] if fig.data else []
