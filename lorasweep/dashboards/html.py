"""The HTML report: one self-contained page (plotly.js inlined, opens offline).

Charts: best-so-far vs cumulative device-seconds (both spaces on one chart), final metric vs α
and vs LR, learning curves, drift ratio over steps, the comparison table; and, when the experiment
has them, the rank law, the LR × α landscape and the matched-step ablation.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lorasweep.analysis.law import REFERENCE_LAWS
from lorasweep.dashboards.json_report import to_json
from lorasweep.dashboards.science import ablation, drift_curves, landscape, rank_law, seed_comparison, verdict_text
from lorasweep.dashboards.summary import MAX_CURVES, ExperimentSummary
from lorasweep.search.ablation import Arm
from lorasweep.store import TrialRecord, TrialState

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
SYMBOLS = {
    TrialState.COMPLETE: "circle",
    TrialState.PRUNED: "circle-open",
    TrialState.DIVERGED: "x",
    TrialState.FAILED: "x-open",
    TrialState.RUNNING: "diamond-open",
    TrialState.INTERRUPTED: "square-open",
}


#: Points drawn per learning curve at most (evenly spaced evaluations, the first and last kept).
MAX_CURVE_POINTS = 100
#: Above this many points a trace draws with WebGL (SVG gets slow to pan and hover).
WEBGL_POINTS = 2000


def thin(n: int, limit: int = MAX_CURVE_POINTS) -> range | list[int]:
    """Indices of at most ``limit`` of ``n`` points, evenly spaced, the first and last kept."""
    if n <= limit:
        return range(n)
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def _scatter(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n_points > WEBGL_POINTS else go.Scatter


def figures(summary: ExperimentSummary) -> list[go.Figure]:
    metric = summary.metric
    cost = go.Figure()
    scatter = make_subplots(
        rows=1, cols=2, subplot_titles=(f"{metric} at last evaluation vs α", f"{metric} at last evaluation vs LR")
    )
    curves = go.Figure()
    drawn: dict[str, tuple[int, int]] = {}  # space → (curves drawn, trials)
    for i, (name, s) in enumerate(summary.spaces.items()):
        color = COLORS[i % len(COLORS)]
        best = [(c, v) for c, v in s.best_so_far if v is not None]
        cost.add_trace(
            _scatter(len(best))(
                x=np.array([c for c, _ in best], dtype=float),
                y=np.array([v for _, v in best], dtype=float),
                mode="lines+markers" if len(best) <= 500 else "lines",
                line_shape="hv",
                name=name,
                line={"color": color},
            )
        )
        shown = [t for t in s.trials if t.best_value is not None]
        by_state: dict[TrialState, list[TrialRecord]] = {}
        for t in shown:
            by_state.setdefault(t.state, []).append(t)
        for col, key in ((1, "alpha"), (2, "lr")):
            for j, (state, ts) in enumerate(by_state.items()):
                scatter.add_trace(
                    _scatter(len(shown))(
                        x=np.array([getattr(t, key) for t in ts], dtype=float),
                        y=np.array([t.final_value if t.final_value is not None else t.best_value for t in ts]),
                        mode="markers",
                        name=name,
                        legendgroup=name,
                        showlegend=col == 1 and j == 0,
                        marker={"color": color, "symbol": SYMBOLS[state], "size": 9},
                        text=np.array(
                            [
                                f"{t.state.value} r={t.r} α={t.alpha:.3g} LR={t.lr:.3g} s·LR={t.effective_step:.3g}"
                                for t in ts
                            ],
                            dtype=object,  # plotly checks an array at once, a list item by item
                        ),
                    ),
                    row=1,
                    col=col,
                )
        # one trace per space: the curves one after another, a gap (NaN) between two
        xs: list[float] = []
        ys: list[float] = []
        text: list[str] = []
        n_drawn = 0
        for t in s.drawn:
            if (curve := summary.curves.get(t.id)) is None:
                continue
            pairs = zip(curve.steps, curve.values, strict=True)
            points = [(x, y) for x, y in pairs if y is not None and math.isfinite(y)]
            if not points:
                continue
            n_drawn += 1
            label = f"{t.state.value} α={t.alpha:.3g} LR={t.lr:.3g}"
            for k in thin(len(points)):
                xs.append(points[k][0])
                ys.append(points[k][1])
            xs.append(math.nan)
            ys.append(math.nan)
            text += [label] * (len(xs) - len(text))
        drawn[name] = (n_drawn, len(s.trials))
        if xs:
            curves.add_trace(
                _scatter(len(xs))(
                    x=np.array(xs[:-1]),
                    y=np.array(ys[:-1]),
                    text=np.array(text[:-1], dtype=object),
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    line={"color": color, "width": 1},
                    opacity=0.6,
                    connectgaps=False,
                )
            )
    cost.update_layout(
        title=f"Best {metric} so far vs search cost", xaxis_title="cumulative device-seconds", yaxis_title=metric
    )
    if summary.target is not None:
        cost.add_hline(y=summary.target, line_dash="dot", annotation_text=f"target (within {summary.within:.0%})")
    scatter.update_xaxes(type="log")
    scatter.update_xaxes(title_text="α", row=1, col=1)
    scatter.update_xaxes(title_text="LR", row=1, col=2)
    scatter.update_yaxes(title_text=metric, row=1, col=1)
    scatter.update_layout(
        title="Each trial's last evaluation (● complete, ○ pruned at a rung, × diverged: last value before it)"
    )
    title = f"Learning curves ({metric} vs step)"
    if any(len(s.drawn) < len(s.trials) for s in summary.spaces.values()):
        title += (
            f"<br><sup>{', '.join(f'{name}: {n:,} of {total:,}' for name, (n, total) in drawn.items())} trials drawn"
            f" (the best {MAX_CURVES // 4} of a space and an even sample of the rest)</sup>"
        )
    curves.update_layout(title=title, xaxis_title="step", yaxis_title=metric)
    return [cost, scatter, curves, *science_figures(summary)]


def science_figures(summary: ExperimentSummary) -> list[go.Figure]:
    """Drift ratio over steps; the rank law and the LR × α landscape when the data has them."""
    figs = []
    drift = go.Figure()
    for i, (name, curve) in enumerate(drift_curves(summary).items()):
        drift.add_trace(
            go.Scatter(
                x=[s for s, _ in curve],
                y=[v for _, v in curve],
                mode="lines+markers",
                name=name,
                line={"color": COLORS[i % len(COLORS)]},
            )
        )
    drift.update_layout(
        title="Drift ratio ‖s·δB·δA‖ / ‖s·(δB·A + B·δA)‖ over steps (mean over trials)",
        xaxis_title="step",
        yaxis_title="drift ratio",
        yaxis_type="log",
    )
    figs.append(drift)
    law = rank_law(summary)
    if law is not None:  # drawn even with no α*: its title says why (e.g. no rank learned anything)
        fig = go.Figure()
        ranks = sorted(law.alpha_star)
        if ranks:
            fig.add_trace(
                go.Scatter(
                    x=ranks, y=[law.alpha_star[r] for r in ranks], mode="markers", name="α*(r)", marker={"size": 10}
                )
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
                    go.Scatter(
                        x=dense, y=[c * r**ref.p for r in dense], mode="lines", name=ref.name, line={"dash": "dot"}
                    )
                )
        notes = [law.space_reason, law.verdict or law.reason or ""]
        notes += [f"r={r} left out: {why}" for r, why in law.excluded.items()]
        subtitles = "".join(f"<br><sup>{html.escape(n, quote=False)}</sup>" for n in notes if n)
        fig.update_layout(
            title=f"α* vs rank ({law.space}){subtitles}",
            xaxis_title="rank r",
            yaxis_title="α*",
            xaxis_type="log",
            yaxis_type="log",
        )
        figs.append(fig)
    land = landscape(summary)
    if land is not None and land.points:
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=[t.lr for t in land.points],
                y=[t.alpha for t in land.points],
                mode="markers",
                name=land.space,
                marker={
                    "size": 14,
                    "color": [t.final_value for t in land.points],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": summary.metric},
                },
                text=[f"{summary.metric}={t.final_value:.4g} s·LR={t.effective_step:.3g}" for t in land.points],
            )
        )
        lrs = sorted(t.lr for t in land.points)
        steps = sorted(t.effective_step for t in land.points)
        for k in range(5):  # lines of constant s·LR: α = E·r/LR (or E·√r/LR with rsLoRA)
            e = steps[0] * (steps[-1] / steps[0]) ** (k / 4) if steps[0] > 0 else 0
            scale = land.points[0].alpha / land.points[0].scaling
            fig.add_trace(
                go.Scatter(
                    x=[lrs[0], lrs[-1]],
                    y=[e * scale / lrs[0], e * scale / lrs[-1]],
                    mode="lines",
                    line={"dash": "dot", "color": "grey"},
                    name=f"s·LR = {e:.2g}",
                    showlegend=k in (0, 4),
                )
            )
        r2 = land.effective_step_r2
        fig.update_layout(
            title=f"LR × α landscape ({land.space}, r={land.rank}); s·LR explains "
            + (f"{r2:.0%}" if r2 is not None else "—")
            + f" of the {summary.metric} spread",
            xaxis_title="LR",
            yaxis_title="α",
            xaxis_type="log",
            yaxis_type="log",
            yaxis_range=[
                math.log10(min(t.alpha for t in land.points)) - 0.2,
                math.log10(max(t.alpha for t in land.points)) + 0.2,
            ],
        )
        figs.append(fig)
    figs += ablation_figures(summary)
    return figs


def ablation_figures(summary: ExperimentSummary) -> list[go.Figure]:
    """Final value and mean drift ratio against k, one line per arm; diverged points marked."""
    abl = ablation(summary)
    if abl is None:
        return []
    final, drift = go.Figure(), go.Figure()
    for i, (arm, points) in enumerate(abl.arms.items()):
        name, color = ("α × k" if arm is Arm.ALPHA else "LR × k"), COLORS[i % len(COLORS)]
        ok = [p for p in points if p.final_value is not None]
        final.add_trace(
            go.Scatter(
                x=[p.k for p in ok],
                y=[p.final_value for p in ok],
                mode="lines+markers",
                name=name,
                line={"color": color},
            )
        )
        bad = [p for p in points if p.diverged]
        if bad:
            top = max((p.final_value for ps in abl.arms.values() for p in ps if p.final_value is not None), default=1)
            final.add_trace(
                go.Scatter(
                    x=[p.k for p in bad],
                    y=[top * (1.0 + 0.05 * i)] * len(bad),  # one row of marks per arm
                    mode="markers",
                    marker={"symbol": "x", "size": 12, "color": color},
                    name=f"{name}: diverged",
                    text=[f"diverged at step {p.diverged_step}" for p in bad],
                )
            )
        measured = [p for p in points if p.drift_ratio is not None]
        drift.add_trace(
            go.Scatter(
                x=[p.k for p in measured],
                y=[p.drift_ratio for p in measured],
                mode="lines+markers",
                name=name,
                line={"color": color},
            )
        )
    base = f"from r={abl.rank}, α={abl.alpha:g}, LR={abl.lr:g}"
    final.update_layout(
        title=f"Matched-step ablation {base}: final {summary.metric} (× = diverged)",
        xaxis_title="k",
        yaxis_title=summary.metric,
        xaxis_type="log",
    )
    if abl.target is not None:
        final.add_hline(y=abl.target, line_dash="dot", annotation_text="target")
    drift.update_layout(
        title=f"Matched-step ablation {base}: mean drift ratio",
        xaxis_title="k",
        yaxis_title="drift ratio",
        xaxis_type="log",
        yaxis_type="log",
    )
    return [final, drift]


def _table_html(summary: ExperimentSummary) -> str:
    doc = to_json(summary)
    names = list(doc["spaces"])
    keys = [
        "best_value",
        "reached_target",
        "n_trials",
        "n_complete",
        "n_pruned",
        "n_diverged",
        "n_failed",
        "device_seconds",
        "wall_seconds",
        "cost_to_target",
    ]

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "—" if v is None else html.escape(str(v))

    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    coverage = "".join(
        "<td>"
        + "<br>".join(f"r={r}: {lo:.2g}–{hi:.2g}" for r, (lo, hi) in (doc["spaces"][n]["coverage"] or {}).items())
        + "</td>"
        for n in names
    )
    body = f"<tr><th>s·LR searched</th>{coverage}</tr>" + "".join(
        f"<tr><th>{k}</th>" + "".join(f"<td>{cell(doc['spaces'][n][k])}</td>" for n in names) + "</tr>" for k in keys
    )
    params = "".join(
        "<td>"
        + "<br>".join(f"{html.escape(k)}={cell(v)}" for k, v in doc["spaces"][n]["best_params"].items())
        + "</td>"
        for n in names
    )
    seeds = ""
    if (comparison := seed_comparison(summary)) is not None:
        cells = "".join(f"<td>{html.escape(comparison.cell(n))}</td>" for n in names)
        seeds = f"<tr><th>re-run on new seeds: mean [95% t-interval] (n)</th>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{body}{seeds}<tr><th>best_params</th>{params}</tr></table>"


def _verdict_html(summary: ExperimentSummary) -> str:
    """The verdict (★ for the winner the seed verdict names), or why there is none."""
    seeds = seed_comparison(summary)
    text = verdict_text(summary, seeds)
    if text is None:
        return ""
    star = f" ★ {html.escape(seeds.winner)}" if seeds is not None and seeds.winner is not None else ""
    return f"<p><b>Verdict{star}:</b> {html.escape(text)}.</p>"


def _ablation_html(summary: ExperimentSummary) -> str:
    abl = ablation(summary)
    assert abl is not None
    heads = ["final", "diverged at step", "steps to target", "mean drift ratio"]
    head = "".join(f"<th>{'α' if arm is Arm.ALPHA else 'LR'} × k: {h}</th>" for arm in Arm for h in heads)
    by_k = {arm: {p.k: p for p in points} for arm, points in abl.arms.items()}

    def cells(arm: Arm, k: float) -> str:
        p = by_k.get(arm, {}).get(k)
        if p is None:
            return "<td>—</td>" * 4
        values = [
            p.state.value if p.final_value is None else f"{p.final_value:.4g}",
            "—" if p.diverged_step is None else str(p.diverged_step),
            "—" if p.steps_to_target is None else str(p.steps_to_target),
            "—" if p.drift_ratio is None else f"{p.drift_ratio:.3g}",
        ]
        return "".join(f"<td>{v}</td>" for v in values)

    ks = sorted({p.k for points in abl.arms.values() for p in points})
    rows = "".join(f"<tr><th>{k:g}</th>{cells(Arm.ALPHA, k)}{cells(Arm.LR, k)}</tr>" for k in ks)
    target = "—" if abl.target is None else f"{abl.target:.4g}"
    return (
        f"<p>Matched-step ablation from r={abl.rank}, α={abl.alpha:g}, LR={abl.lr:g}: one arm multiplies α by k, "
        f"the other the LR, same seed, data and steps. Target (steps to target): {target}.</p>"
        f"<table><tr><th>k</th>{head}</tr>{rows}</table>"
    )


def write_html(summary: ExperimentSummary, out: Path) -> None:
    is_ablation = ablation(summary) is not None
    figs = ablation_figures(summary) if is_ablation else figures(summary)
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    title = html.escape(f"lorasweep: {summary.experiment.name}")
    notes = [] if is_ablation else [w for w in to_json(summary)["warnings"] if w["code"] != "too_few_seeds"]
    warnings = "".join(f"<li>{html.escape(w['message'])}</li>" for w in notes)
    warnings = f'<div class="warnings"><b>Warnings</b><ul>{warnings}</ul></div>' if warnings else ""
    target = "—" if summary.target is None else f"{summary.target:.4g}"
    intro = (
        f"<p>Metric: <b>{html.escape(summary.metric)}</b> ({summary.direction.value}).</p>{_ablation_html(summary)}"
        if is_ablation
        else f"""<p>Metric: <b>{html.escape(summary.metric)}</b> ({summary.direction.value}).
Target for the cost row: within {summary.within:.0%} of the best value found by any space ({target}).</p>
{_verdict_html(summary)}
{_table_html(summary)}"""
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style>
</head><body>
<h1>{title}</h1>
{warnings}
{intro}
{"".join(parts)}
</body></html>"""
    out.write_text(page, encoding="utf-8")
