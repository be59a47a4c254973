"""Learning curves: each space's trials' metric against the optimizer step (one trace per space;
past ``MAX_CURVES`` trials a space draws its best quarter and an even sample, and says so)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.curves import SpaceCurves, learning_curves
from lorasweep.analysis.summary import MAX_CURVES, ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


@register
class CurvesSection(Section[dict[str, SpaceCurves]]):
    name = "curves"
    title = "Learning curves"
    order = 50

    def compute(self, summary: ExperimentSummary) -> dict[str, SpaceCurves] | None:
        curves = learning_curves(summary)
        return curves if any(c.n_drawn for c in curves.values()) else None

    def figures(self, summary: ExperimentSummary, data: dict[str, SpaceCurves]) -> list[go.Figure]:
        q = fmt.metric(summary.metric)
        title = f"Learning curves: {fmt.metric_word(summary.metric)} vs optimizer step"
        if any(c.sampled for c in data.values()):
            drawn = ", ".join(f"{name}: {c.n_drawn:,} of {c.n_trials:,}" for name, c in data.items())
            title += (
                f"<br><sup>{drawn} trials drawn (the best {MAX_CURVES // 4} of a space and an even sample "
                "of the rest)</sup>"
            )
        fig = plot.figure(title, fmt.STEP, q)
        trials = {t.id: t for s in summary.spaces.values() for t in s.drawn}
        for name, c in data.items():
            if not c.n_drawn:
                continue
            tags = {
                tid: f"{t.state.value} · r={t.r} · α={fmt.ALPHA.fmt(t.alpha)} · LR={fmt.LR.fmt(t.lr)}"
                for tid in set(c.trial_ids)
                if (t := trials.get(tid)) is not None
            }
            fig.add_trace(
                plot.scatter(len(c.steps))(
                    x=np.array(c.steps, dtype=float),
                    y=np.array(c.values, dtype=float),
                    text=np.array([tags.get(tid, "") for tid in c.trial_ids], dtype=object),
                    hovertemplate=f"%{{text}}<br>step %{{x}}: %{{y:{q.d3}}}<extra>{name}</extra>",
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    line={"color": plot.color(summary, name), "width": 1},
                    opacity=0.6,
                    connectgaps=False,
                )
            )
        return [fig]
