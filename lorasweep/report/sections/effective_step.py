"""The effective step s·LR: the range each space searched per rank (a table row and shaded bands),
every trial's value against its s·LR on one log axis for all spaces, and the coverage warnings
(unequal ranges, a result decided by the ranges, a best at an edge, a per-trial head LR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.coverage import coverage_warnings
from lorasweep.analysis.effective_step import EffectiveStepView, effective_step_view, shown_value
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Row, Section, register
from lorasweep.store import TrialRecord, TrialState

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True, kw_only=True)
class StepData:
    view: EffectiveStepView
    warnings: list[dict[str, str]]


def hover(trials: list[TrialRecord]) -> np.ndarray:
    return np.array(
        [
            f"{t.state.value} · r={t.r} · α={fmt.ALPHA.fmt(t.alpha)} · LR={fmt.LR.fmt(t.lr)}"
            f" · s·LR={fmt.EFFECTIVE_STEP.fmt(t.effective_step)}"
            for t in trials
        ],
        dtype=object,  # plotly checks an array at once, a list item by item
    )


def go_scatter() -> Any:
    import plotly.graph_objects as go

    return go.Scatter


def by_state(trials: list[TrialRecord]) -> dict[TrialState, list[TrialRecord]]:
    out: dict[TrialState, list[TrialRecord]] = {}
    for t in trials:
        out.setdefault(t.state, []).append(t)
    return out


@register
class EffectiveStepSection(Section[StepData]):
    name = "effective_step"
    title = "Effective step s·LR"
    order = 30
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> StepData | None:
        if not summary.spaces:
            return None
        return StepData(view=effective_step_view(summary), warnings=coverage_warnings(summary))

    def json(self, summary: ExperimentSummary, data: StepData) -> dict[str, Any]:
        cov = data.view.coverage
        return {
            "spaces": {
                name: {
                    "coverage": cov[name].as_dict() if name in cov else None,
                    "coverage_b": cov[name].b_as_dict() if name in cov else None,  # LoRA+: its B matrices' s·LR
                }
                for name in summary.spaces
            }
        }

    def warnings(self, summary: ExperimentSummary, data: StepData) -> list[dict[str, str]]:
        return data.warnings

    def rows(self, summary: ExperimentSummary, data: StepData) -> list[Row]:
        cells = {
            name: [
                f"r={r}: {fmt.interval(lo, hi, fmt.EFFECTIVE_STEP)}"
                + (f" (A); B: {fmt.interval(*c.b_ranges[r], fmt.EFFECTIVE_STEP)}" if r in c.b_ranges else "")
                for r, (lo, hi) in sorted(c.ranges.items())
            ]
            for name, c in data.view.coverage.items()
        }
        return [Row(label="s·LR searched", cells=cells)]

    def figures(self, summary: ExperimentSummary, data: StepData) -> list[go.Figure]:
        fig = self._versus_step(summary, data)
        return [fig] if fig.data else []

    def _versus_step(self, summary: ExperimentSummary, data: StepData) -> go.Figure:
        """One log s·LR axis for every space: the trials above, and under them a strip with one bar
        per space and rank spanning the s·LR it searched."""
        from plotly.subplots import make_subplots

        q, word = fmt.metric(summary.metric), fmt.metric_word(summary.metric)
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.03)
        for name, trials in data.view.trials.items():
            c = plot.color(summary, name)
            for j, (state, ts) in enumerate(by_state(trials).items()):
                fig.add_trace(
                    plot.scatter(len(trials))(
                        x=np.array([t.effective_step for t in ts], dtype=float),
                        y=np.array([shown_value(t) for t in ts], dtype=float),
                        mode="markers",
                        name=name,
                        legendgroup=name,
                        showlegend=j == 0,
                        marker={"color": c, "symbol": plot.SYMBOLS[state], "size": 9, "opacity": 0.8},
                        text=hover(ts),
                        hovertemplate=f"%{{text}}<br>{word} %{{y:{q.d3}}}<extra>{name}</extra>",
                    ),
                    row=1,
                    col=1,
                )
        for name in summary.spaces:
            for r, (lo, hi) in sorted(data.view.ranges(name).items()):
                label = f"{name} r={r}"
                fig.add_trace(
                    go_scatter()(
                        x=[lo, hi],
                        y=[label, label],
                        mode="lines",
                        line={"color": plot.color(summary, name), "width": 12},
                        opacity=0.5,
                        name=label,
                        legendgroup=name,
                        showlegend=False,
                        hovertemplate=(
                            f"{label} searched s·LR {fmt.interval(lo, hi, fmt.EFFECTIVE_STEP)}<extra></extra>"
                        ),
                    ),
                    row=2,
                    col=1,
                )
        fig.update_xaxes(type="log", exponentformat="e", hoverformat=fmt.EFFECTIVE_STEP.d3)
        fig.update_xaxes(title_text=fmt.EFFECTIVE_STEP.axis, row=2, col=1)
        fig.update_yaxes(title_text=q.axis, hoverformat=q.d3, row=1, col=1)
        fig.update_yaxes(title_text="searched", type="category", row=2, col=1)
        fig.update_layout(
            title={
                "text": f"{q.label} of every trial vs its effective step s·LR, all spaces on one axis<br><sup>"
                "● complete, ○ pruned (value at its last rung), × diverged (last value before it); "
                "bars below: the s·LR each space searched, per rank</sup>"
            },
            margin={"t": 90},
        )
        return fig
