"""Every trial's value against α and against LR (two panels): where each space's searched parameter
put its trials, next to the effective-step chart that puts them on one axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.effective_step import EffectiveStepView, effective_step_view, shown_value
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Section, register
from lorasweep.report.sections.effective_step import by_state, hover

if TYPE_CHECKING:
    import plotly.graph_objects as go


@register
class ParametersSection(Section[EffectiveStepView]):
    name = "parameters"
    title = "α and LR"
    order = 35

    def compute(self, summary: ExperimentSummary) -> EffectiveStepView | None:
        return effective_step_view(summary) if summary.spaces else None

    def figures(self, summary: ExperimentSummary, data: EffectiveStepView) -> list[go.Figure]:
        from plotly.subplots import make_subplots

        q, word = fmt.metric(summary.metric), fmt.metric_word(summary.metric)
        fig = make_subplots(rows=1, cols=2, subplot_titles=(f"{q.label} vs α", f"{q.label} vs LR"))
        for name, trials in data.trials.items():
            c = plot.color(summary, name)
            for col, key in ((1, "alpha"), (2, "lr")):
                for j, (state, ts) in enumerate(by_state(trials).items()):
                    fig.add_trace(
                        plot.scatter(len(trials))(
                            x=np.array([getattr(t, key) for t in ts], dtype=float),
                            y=np.array([shown_value(t) for t in ts], dtype=float),
                            mode="markers",
                            name=name,
                            legendgroup=name,
                            showlegend=col == 1 and j == 0,
                            marker={"color": c, "symbol": plot.SYMBOLS[state], "size": 8},
                            text=hover(ts),
                            hovertemplate=f"%{{text}}<br>{word} %{{y:{q.d3}}}<extra>{name}</extra>",
                        ),
                        row=1,
                        col=col,
                    )
        fig.update_xaxes(type="log", exponentformat="e")
        fig.update_xaxes(title_text=fmt.ALPHA.axis, row=1, col=1)
        fig.update_xaxes(title_text=fmt.LR.axis, row=1, col=2)
        fig.update_yaxes(title_text=q.axis, hoverformat=q.d3, row=1, col=1)
        fig.update_layout(
            title={
                "text": f"{q.label} of every trial vs α and vs LR (at its last evaluation)<br><sup>"
                "● complete, ○ pruned at a rung, × diverged: last value before it</sup>"
            },
            margin={"t": 90},
        )
        return [fig] if fig.data else []
