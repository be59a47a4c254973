"""The rank law: α*(r) per rank on the space that searches α, the OLS fit α* = c·r^p with its
t-interval, the usual reference laws, and the ranks left out with their reasons."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from lorasweep.analysis.law import REFERENCE_LAWS
from lorasweep.analysis.rank_law import RankLaw, rank_law
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go


def rank_law_line(law: RankLaw) -> str:
    """The rank law in one or two lines: the space and why, the fit, what its interval can tell."""
    head = f"Rank law on {law.space_reason}"
    if law.fit is None:
        return f"{head}: no fit ({law.reason})"
    f = law.fit
    interval = f", p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}]" if f.p_ci is not None else ""
    left = f"; left out: {', '.join(f'r={r}' for r in law.excluded)}" if law.excluded else ""
    return f"{head}: alpha* = {f.c:.4g} · r^{f.p:.3f}{interval}{left}\n{law.verdict}"


def rank_law_lines(law: RankLaw) -> list[str]:
    """The rank law in full, one line each (``lorasweep rank-law`` prints them): α*(r) per rank,
    the ranks left out, a warning when α* lies at the edge of the range, the fit with its interval."""
    lines = [f"space: {law.space_reason}"]
    lines += [f"alpha*(r={r}) = {a:.4g}  (c = {a / r**0.5:.4g})" for r, a in law.alpha_star.items()]
    lines += [f"rank {r} left out of the fit: {why}" for r, why in law.excluded.items()]
    if law.at_edge:
        lines.append(
            f"warning: alpha* lies at the edge of the searched range at rank(s) {', '.join(map(str, law.at_edge))}; "
            "the optimum may lie outside it, so the fit describes the range more than the task: widen the space"
        )
    if law.fit is None:
        return [*lines, f"no fit: {law.reason}"]
    f = law.fit
    if f.c_ci is not None and f.p_ci is not None:
        lines.append(
            f"fit: alpha* = {f.c:.4g} · r^{f.p:.3f};  c in [{f.c_ci[0]:.4g}, {f.c_ci[1]:.4g}], "
            f"p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}] ({f.interval_method})"
        )
    else:
        lines.append(f"fit: alpha* = {f.c:.4g} · r^{f.p:.3f}  (no interval: {f.interval_method})")
    return [*lines, law.verdict or ""]


@register
class RankLawSection(Section[RankLaw]):
    name = "rank_law"
    title = "Rank law α*(r)"
    order = 70
    dashboard = True

    def compute(self, summary: ExperimentSummary) -> RankLaw | None:
        return rank_law(summary)

    def json(self, summary: ExperimentSummary, data: RankLaw) -> dict[str, Any]:
        return {"rank_law": data.as_dict()}

    def text(self, summary: ExperimentSummary, data: RankLaw) -> list[str]:
        return [rank_law_line(data)]

    def figures(self, summary: ExperimentSummary, data: RankLaw) -> list[go.Figure]:
        """Drawn even with no α* (its title says why: e.g. no rank learned anything)."""
        import plotly.graph_objects as go

        law = data
        notes = [law.space_reason, law.verdict or law.reason or ""]
        notes += [f"r={r} left out: {why}" for r, why in law.excluded.items()]
        subtitles = "".join(f"<br><sup>{html.escape(n, quote=False)}</sup>" for n in notes if n)
        fig = plot.figure(f"α* vs rank ({law.space}){subtitles}", "Rank r", "α*", log_x=True, log_y=True)
        fig.update_layout(margin={"t": 60 + 20 * len(notes)})
        ranks = sorted(law.alpha_star)
        if not ranks:
            return [fig]
        fig.add_trace(
            go.Scatter(x=ranks, y=[law.alpha_star[r] for r in ranks], mode="markers", name="α*(r)", marker={"size": 10})
        )
        dense = [ranks[0] * (ranks[-1] / ranks[0]) ** (i / 40) for i in range(41)]
        if law.fit is not None:
            f = law.fit
            fig.add_trace(
                go.Scatter(
                    x=dense,
                    y=[f.predict(r) for r in dense],
                    mode="lines",
                    name=f"fit: {f.c:.3g}·r^{f.p:.2f} "
                    + (f"(p in [{f.p_ci[0]:.2f}, {f.p_ci[1]:.2f}])" if f.p_ci is not None else "(no interval)"),
                )
            )
        for ref in REFERENCE_LAWS:
            c = ref.c if ref.c is not None else law.alpha_star[ranks[0]] / ranks[0] ** ref.p
            fig.add_trace(
                go.Scatter(x=dense, y=[c * r**ref.p for r in dense], mode="lines", name=ref.name, line={"dash": "dot"})
            )
        return [fig]
