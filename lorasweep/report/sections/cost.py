"""Search cost: device- and wall seconds per space (from its own trials; running ones at their
elapsed time), device-seconds until the best value first reached the target (not reached: censored
at the budget, said so), and the best value so far against cumulative device-seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary
from lorasweep.report import plot
from lorasweep.report.sections import Row, Section, register
from lorasweep.store import TrialState

if TYPE_CHECKING:
    import plotly.graph_objects as go


def target_words(summary: ExperimentSummary) -> str:
    """The target and where it came from, e.g. ``0.912: target.value in the experiment``."""
    if summary.target is None:
        return f"no target ({summary.target_source or 'none'})"
    return f"{fmt.metric(summary.metric).fmt(summary.target)}: {summary.target_source}"


def cost_cell(s: SpaceSummary) -> str:
    """A space's device-seconds to the target, or what "not reached" means: more than its budget
    (censored there), or more than what it spent so far while trials still run."""
    if s.cost_to_target is not None:
        return fmt.seconds(s.cost_to_target)
    if s.counts.get(TrialState.RUNNING):
        return f"not reached yet: > {fmt.seconds(s.device_seconds)} so far"
    return f"not reached: > {fmt.seconds(s.device_seconds)} (censored at its budget)"


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
                    # not reached: the cost is more than the budget spent (right-censored there)
                    "cost_to_target_censored_at": (
                        s.device_seconds if s.cost_to_target is None and summary.target is not None else None
                    ),
                }
                for name, s in data.spaces.items()
            }
        }

    def text(self, summary: ExperimentSummary, data: ExperimentSummary) -> list[str]:
        if summary.target is None:
            return [f"Cost to a target: {target_words(summary)}."]
        cells = "; ".join(f"{n} {cost_cell(s)}" for n, s in data.spaces.items())
        return [f"Device-seconds to the target {target_words(summary)}: {cells}."]

    def rows(self, summary: ExperimentSummary, data: ExperimentSummary) -> list[Row]:
        spaces = data.spaces
        running = any(s.counts.get(TrialState.RUNNING) for s in spaces.values())
        so_far = "; running trials at their elapsed time" if running else ""
        # without a target there is no cost to it: the section's text line says why, once
        target = (
            [
                Row(
                    label=f"Device-seconds to target ({target_words(summary)})",
                    cells={n: [cost_cell(s)] for n, s in spaces.items()},
                )
            ]
            if summary.target is not None
            else []
        )
        return [
            Row(
                label=f"Device-seconds (search{so_far})",
                cells={n: [fmt.seconds(s.device_seconds)] for n, s in spaces.items()},
            ),
            Row(
                label=f"Wall seconds (search, while its own trials ran{so_far})",
                cells={n: [fmt.WALL_SECONDS.fmt(s.wall_seconds)] for n, s in spaces.items()},
            ),
            *target,
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
                annotation_text=f"target {q.fmt(summary.target)} ({summary.target_source})",
            )
        return [fig] if fig.data else []
