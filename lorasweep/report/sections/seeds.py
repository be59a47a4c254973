"""``compare --seeds``: each space's best configs re-run on new seeds, the seed verdict (how often
one space beat the other on a new seed: :mod:`lorasweep.analysis.seeds`), one per rank, and the
warnings about it (too few seeds, a verdict withheld, a rank one space lacks, re-runs that did not
complete). Without re-runs it still says why there is no verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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
    """A space's re-runs: the median value over its seeds (and ranks) with the range, how many,
    and how many did not complete (each of those lost its seed's pair)."""
    values = seeds.values(name)
    done = sorted(v for v in values if v is not None)
    if not values:
        return [fmt.MISSING]
    lines = []
    if done:
        med = float(np.median(done))
        lines.append(f"{q.fmt(med)} ({q.fmt(done[0])}–{q.fmt(done[-1])})" if len(done) > 1 else q.fmt(med))
    lines.append(f"n = {len(values)}")
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
                label="Re-run on new seeds: median (lowest–highest)",
                cells={n: cell(data.comparison, n, q) for n in names},
            )
        ]

    def text(self, summary: ExperimentSummary, data: SeedsData) -> list[str]:
        if data.verdict is None or data.comparison is None:  # no re-runs: the opening sentences say why
            return []
        seeds = data.comparison
        star = f" ★ {seeds.winner}" if seeds.winner is not None else ""
        out = [f"Verdict{star}: {data.verdict}."]
        if len(seeds.per_rank) > 1:  # the lead verdict is pooled: each rank's own, labelled
            out += [f"At rank {rank} alone: {v.text}." for rank, v in seeds.per_rank.items()]
        return out

    def figures(self, summary: ExperimentSummary, data: SeedsData) -> list[go.Figure]:
        """Each seed's value per space at each rank (a grey line joins the spaces' values on one
        seed: they are paired; a re-run that did not complete is drawn as an open marker at the
        bottom of the axis) and each space's median."""
        import plotly.graph_objects as go

        seeds = data.comparison
        if seeds is None or not any(v is not None for n in seeds.names for v in seeds.values(n)):
            return []
        q = fmt.metric(summary.metric)
        names = [n for n in seeds.names if seeds.per_seed.get(n)]
        ranks = sorted({r for n in names for r in seeds.per_seed[n]})
        fig = plot.figure(
            f"Seed re-runs: {fmt.metric_word(summary.metric)} per seed<br><sup>grey lines join one seed's re-runs "
            "(paired); diamonds: median; × at the bottom: did not complete (loses its pair)</sup>",
            "space",
            q,
        )
        done = [v for n in names for v in seeds.values(n) if v is not None]
        floor = seeds.direction.worst(done)
        label = (lambda n, r: n) if len(ranks) == 1 else (lambda n, r: f"{n} r={r}")
        for rank in ranks:
            here = [n for n in names if rank in seeds.per_seed[n]]
            for s in sorted({s for n in here for s in seeds.per_seed[n][rank]}):
                got = [(n, seeds.per_seed[n][rank][s]) for n in here if s in seeds.per_seed[n][rank]]
                fig.add_trace(
                    go.Scatter(
                        x=[label(n, rank) for n, _ in got],
                        y=[floor if v is None else v for _, v in got],
                        mode="lines+markers",
                        line={"color": "rgba(120,120,120,0.5)", "width": 1},
                        marker={
                            "color": "rgba(120,120,120,0.8)",
                            "size": 6,
                            "symbol": ["x-open" if v is None else "circle" for _, v in got],
                        },
                        name=f"seed {s}",
                        showlegend=False,
                        hovertemplate=f"seed {s}<br>%{{x}}: %{{y:{q.d3}}}<extra></extra>",
                    )
                )
            for n in here:
                vals = [v for v in seeds.per_seed[n][rank].values() if v is not None]
                if not vals:
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=[label(n, rank)],
                        y=[float(np.median(vals))],
                        mode="markers",
                        marker={"color": plot.color(summary, n), "size": 14, "symbol": "diamond"},
                        name=f"{label(n, rank)}: median of {len(vals)}",
                        hovertemplate=f"{n} median %{{y:{q.d3}}}<extra></extra>",
                    )
                )
        fig.update_xaxes(title_text="", type="category")
        return [fig]
