"""``compare --seeds``: each space's best configs re-run on new seeds, the paired t-interval
verdict, and the warnings about it (too few seeds, a verdict withheld, re-runs that did not
complete). Without re-runs it still says why there is no verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.analysis.seeds import SeedComparison, seed_comparison, verdict_text, verdict_warnings
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Row, Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True, kw_only=True)
class SeedsData:
    comparison: SeedComparison | None
    verdict: str | None  # the seed verdict, or why there is none


def cell(seeds: SeedComparison, name: str, q: fmt.Quantity) -> list[str]:
    """A space's re-runs: ``mean [lo–hi]``, ``n = 5``, and how many did not complete."""
    iv = seeds.per_space.get(name)
    if iv is None:
        return [fmt.MISSING]
    ci = "" if iv.lo is None or iv.hi is None else f" [{q.fmt(iv.lo)}–{q.fmt(iv.hi)}]"
    lines = [f"{q.fmt(iv.mean)}{ci}", f"n = {iv.n}"]
    r = seeds.reruns.get(name)
    if r is not None and r.n_incomplete:
        lines.append(f"{r.n_incomplete} of {r.total} re-runs did not complete")
    return lines


@register
class SeedsSection(Section[SeedsData]):
    name = "seeds"
    title = "Seed re-runs and verdict"
    order = 40
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> SeedsData | None:
        seeds = seed_comparison(summary)
        text = verdict_text(summary, seeds)
        return None if seeds is None and text is None else SeedsData(comparison=seeds, verdict=text)

    def json(self, summary: ExperimentSummary, data: SeedsData) -> dict[str, Any]:
        return data.comparison.as_dict() if data.comparison is not None else {}

    def warnings(self, summary: ExperimentSummary, data: SeedsData) -> list[dict[str, str]]:
        return verdict_warnings(summary, data.comparison)

    def rows(self, summary: ExperimentSummary, data: SeedsData) -> list[Row]:
        if data.comparison is None:
            return []
        q = fmt.metric(summary.metric)
        names = list(summary.spaces) or list(data.comparison.per_space)
        return [
            Row(
                label="Re-run on new seeds: mean [95 % t-interval]",
                cells={n: cell(data.comparison, n, q) for n in names},
            )
        ]

    def text(self, summary: ExperimentSummary, data: SeedsData) -> list[str]:
        if data.verdict is None or data.comparison is None:  # no re-runs: the opening sentences say why
            return []
        winner = data.comparison.winner if data.comparison is not None else None
        star = f" ★ {winner}" if winner is not None else ""
        return [f"Verdict{star}: {data.verdict}."]

    def figures(self, summary: ExperimentSummary, data: SeedsData) -> list[go.Figure]:
        """Each seed's value per space (a grey line joins the spaces' values on one seed: they are
        paired) and each space's mean with its t-interval."""
        import plotly.graph_objects as go

        seeds = data.comparison
        if seeds is None or not any(seeds.per_seed.values()):
            return []
        q = fmt.metric(summary.metric)
        names = [n for n in seeds.per_seed if seeds.per_seed[n]]
        fig = plot.figure(
            f"Seed re-runs: {fmt.metric_word(summary.metric)} per seed<br><sup>grey lines join one seed's re-runs "
            "(paired); bars: mean with its 95 % t-interval</sup>",
            "space",
            q,
        )
        all_seeds = sorted({s for n in names for s in seeds.per_seed[n]})
        for s in all_seeds:
            fig.add_trace(
                go.Scatter(
                    x=[n for n in names if s in seeds.per_seed[n]],
                    y=[seeds.per_seed[n][s] for n in names if s in seeds.per_seed[n]],
                    mode="lines+markers",
                    line={"color": "rgba(120,120,120,0.5)", "width": 1},
                    marker={"color": "rgba(120,120,120,0.8)", "size": 6},
                    name=f"seed {s}",
                    showlegend=False,
                    hovertemplate=f"seed {s}<br>%{{x}}: %{{y:{q.d3}}}<extra></extra>",
                )
            )
        for n in names:
            iv = seeds.per_space.get(n)
            if iv is None:
                continue
            error = (
                {"type": "data", "symmetric": False, "array": [iv.hi - iv.mean], "arrayminus": [iv.mean - iv.lo]}
                if iv.lo is not None and iv.hi is not None
                else None
            )
            fig.add_trace(
                go.Scatter(
                    x=[n],
                    y=[iv.mean],
                    mode="markers",
                    marker={"color": plot.color(summary, n), "size": 14, "symbol": "diamond"},
                    error_y=error,
                    name=f"{n}: mean of {iv.n}",
                    hovertemplate=f"{n} mean %{{y:{q.d3}}}<extra></extra>",
                )
            )
        fig.update_xaxes(title_text="", type="category")
        return [fig]
