"""Repeated searches (``compare --repeats K``): the anytime comparison (best so far against
device-seconds and against trials, median over repeats with the interquartile band, one chart),
the best each repeat found paired by repeat, the cost to the target as a distribution (censored
where not reached) and the repeat-level verdict. Numbers from :mod:`lorasweep.analysis.repeats`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lorasweep import formatting as fmt
from lorasweep.analysis.anytime_band import Band
from lorasweep.analysis.repeat_outcomes import CostToTarget
from lorasweep.analysis.repeats import RepeatComparison, repeat_comparison
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.config import Direction
from lorasweep.report import plot
from lorasweep.report.sections import Grid, Row, Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _values(values: list[float | None], q: fmt.Quantity) -> str:
    return ", ".join(q.fmt(v) if v is not None else "none" for v in values)


def median_iqr(values: list[float | None], q: fmt.Quantity, direction: Any) -> str:
    """``0.953 (IQR 0.94–0.97)`` over repeats; a repeat without a value counts as the worst."""
    from lorasweep.analysis.anytime_band import band

    curves = [((0.0, v),) for v in values]
    b = band(curves, [0.0], direction)
    lo, med, hi = b.lo[0], b.median[0], b.hi[0]
    if med is None:
        return "none in half the repeats"
    return f"{q.fmt(med)} (IQR {q.fmt(lo) if lo is not None else 'none'}–{q.fmt(hi)})"


def cost_cell(c: CostToTarget) -> list[str]:
    """``reached in 7 of 10``, ``median 123.4 [80.1, 310.2]`` (``> 300`` when censored)."""
    lines = [f"reached in {c.reached} of {c.n}"]
    if c.median is None:
        above = f" (> {fmt.seconds(c.censored_at)})" if c.censored_at is not None else ""
        lines.append(f"median not reached{above}")
    else:
        hi = fmt.seconds(c.hi) if c.hi is not None else "open"
        lo = fmt.seconds(c.lo) if c.lo is not None else "—"
        lines.append(f"median {fmt.seconds(c.median)} [{lo}, {hi}]")
    return lines


def _band_traces(
    fig: go.Figure, b: Band, *, name: str, colour: str, col: int, legend: bool, minimize: bool, edge: float
) -> None:
    """Draw ``b``: its median and interquartile band, from the first point where the better
    quartile has a value. A quartile of repeats that have nothing yet (None: worse than any
    value) is drawn at ``edge``, the worst value on the chart, so the band reaches the axis's
    worst side there instead of leaving a hole that plotly's fill would bridge diagonally."""
    import plotly.graph_objects as go

    better = b.lo if minimize else b.hi
    start = next((i for i, v in enumerate(better) if v is not None), None)
    if start is None:  # no repeat has a value anywhere: nothing to draw
        return
    x = np.array(b.x[start:], dtype=float)

    def arr(values: tuple[float | None, ...], missing: float) -> np.ndarray:
        return np.array([v if v is not None else missing for v in values[start:]], dtype=float)

    fig.add_trace(
        go.Scatter(
            x=x, y=arr(b.hi, edge), mode="lines", line={"width": 0, "shape": "hv", "color": colour},
            legendgroup=name, showlegend=False, hoverinfo="skip",
        ),
        row=1, col=col,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x, y=arr(b.lo, edge), mode="lines", line={"width": 0, "shape": "hv", "color": colour}, fill="tonexty",
            fillcolor=_rgba(colour, 0.2), legendgroup=name,
            name=f"{name} IQR", showlegend=False, hoverinfo="skip",
        ),
        row=1, col=col,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x, y=arr(b.median, np.nan), mode="lines", line={"shape": "hv", "color": colour, "width": 2},
            name=f"{name} (median of {b.n})", legendgroup=name, showlegend=legend,
        ),
        row=1, col=col,
    )  # fmt: skip


def _edge(bands: list[Band], minimize: bool) -> float | None:
    """The worst value any band shows: where a quartile with nothing yet is drawn."""
    values = [v for b in bands for v in (*b.lo, *b.median, *b.hi) if v is not None]
    if not values:
        return None
    return max(values) if minimize else min(values)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


@register
class RepeatsSection(Section[RepeatComparison]):
    name = "repeats"
    title = "Repeated searches"
    order = 15
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> RepeatComparison | None:
        return repeat_comparison(summary)

    def json(self, summary: ExperimentSummary, data: RepeatComparison) -> dict[str, Any]:
        return {"repeats": data.as_dict()}

    def rows(self, summary: ExperimentSummary, data: RepeatComparison) -> list[Row]:
        q = fmt.metric(summary.metric)
        word = fmt.metric_word(summary.metric)
        keys = [(data.key(s, r), s, r) for s in data.spaces for r in data.ranks if data.of(s, r)]

        # the table's columns are spaces: with several ranks a cell holds one line per rank
        def per_space(line: Any) -> dict[str, list[str]]:
            cells: dict[str, list[str]] = {}
            for key, space, rank in keys:
                prefix = f"r={rank}: " if len(data.ranks) > 1 else ""
                cells.setdefault(space, []).extend(prefix + x for x in line(key, space, rank))
            return cells

        rows = [
            Row(
                label="Repeated searches",
                cells=per_space(lambda k, s, r: [f"{len(data.of(s, r))} × {data.trials_per_search} trials"]),
            ),
            Row(
                label=f"Best {word} per repeat (median, IQR; eval)",
                cells=per_space(
                    lambda k, s, r: [
                        median_iqr([x.value for x in data.of(s, r)], q, data.direction),
                        _values([x.value for x in data.of(s, r)], q) if len(data.of(s, r)) <= 10 else "",
                    ]
                ),
            ),
            Row(
                label="Device-seconds (all repeats)",
                cells=per_space(lambda k, s, r: [fmt.seconds(sum(x.budget for x in data.of(s, r)))]),
            ),
        ]
        if data.target is not None:
            rows.append(
                Row(
                    label=f"Device-seconds to {word} {q.fmt(data.target)} (KM median, 95 % CI)",
                    cells=per_space(lambda k, s, r: cost_cell(data.cost[k])),
                )
            )
        for row in rows:
            for lines in row.cells.values():
                lines[:] = [line for line in lines if line]
        return rows

    def text(self, summary: ExperimentSummary, data: RepeatComparison) -> list[str]:
        q = fmt.metric(summary.metric)
        word = fmt.metric_word(summary.metric)
        out = []
        if data.target is not None:
            races = [race.sentence() for race in data.race.values()]
            where = "" if len(data.race) <= 1 else " (" + ", ".join(f"r={rank}" for rank in data.race) + " in turn)"
            out.append(
                f"Cost to target: {word} {q.fmt(data.target)} ({data.target_source}); a repeat that never reached "
                "it is censored at the device-seconds it spent, not dropped. "
                + ("; ".join(races) + where + "." if races else "")
            )
        if data.verdict is not None:
            out.append(f"Repeat verdict: {data.verdict.text}.")
        return out

    def grids(self, summary: ExperimentSummary, data: RepeatComparison) -> list[Grid]:
        q = fmt.metric(summary.metric)
        grids = []
        for rank in data.ranks:
            repeats = sorted({x.repeat for x in data.runs if x.rank == rank})
            by = {(x.space, x.repeat): x for x in data.runs if x.rank == rank}
            columns = ["Repeat"] + [f"{s} best" for s in data.spaces] + [f"{s} device-s to target" for s in data.spaces]
            rows = []
            for i in repeats:
                cells = [str(i)]
                for s in data.spaces:
                    x = by.get((s, i))
                    cells.append(q.fmt(x.value) if x is not None and x.value is not None else fmt.MISSING)
                for s in data.spaces:
                    x = by.get((s, i))
                    if x is None:
                        cells.append(fmt.MISSING)
                    elif x.reached:
                        cells.append(fmt.seconds(x.cost_to_target))
                    else:
                        cells.append(f"not reached (> {fmt.seconds(x.budget)})")
                rows.append(cells)
            title = "Best per repeat, paired by repeat" + (f" (r={rank})" if len(data.ranks) > 1 else "")
            grids.append(
                Grid(
                    title=title,
                    columns=columns,
                    rows=rows,
                    caption=f"Repeat i of every space used the same sampler seed. Best: {data.value_label}.",
                )
            )
        return grids

    def figures(self, summary: ExperimentSummary, data: RepeatComparison) -> list[go.Figure]:
        from plotly.subplots import make_subplots

        q = fmt.metric(summary.metric)
        word = fmt.metric_word(summary.metric)
        fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06)
        minimize = summary.direction == Direction.MINIMIZE
        edge = _edge([*data.by_cost.values(), *data.by_trials.values()], minimize)
        for key, b in data.by_cost.items() if edge is not None else ():
            space = key.split(" r=")[0]
            colour = plot.color(summary, space)
            common = {"name": key, "colour": colour, "minimize": minimize, "edge": edge}
            _band_traces(fig, b, col=1, legend=True, **common)
            _band_traces(fig, data.by_trials[key], col=2, legend=False, **common)
        if data.target is not None:
            fig.add_hline(y=data.target, line_dash="dot", annotation_text=f"target {q.fmt(data.target)}")
        fig.update_layout(
            title={"text": f"Best {word} so far over {data.repeats} repeated searches: median and interquartile band"},
            margin={"t": 90},
        )
        fig.update_xaxes(title_text="Cumulative device-seconds (each repeat's own)", row=1, col=1)
        fig.update_xaxes(title_text="Trials finished", row=1, col=2)
        fig.update_yaxes(title_text=q.axis, hoverformat=q.d3, row=1, col=1)
        return [fig]
