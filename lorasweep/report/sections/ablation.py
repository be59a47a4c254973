"""``lorasweep ablation``: from one base point, one arm multiplies α by k and the other the LR (same
seed, data and steps); per k each arm's final value, divergence step, steps to the target and
mean drift ratio, as a table and two charts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.analysis.ablation import Ablation, AblationPoint, ablation
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report import plot
from lorasweep.report.sections import Grid, Section, register
from lorasweep.search.ablation import Arm

if TYPE_CHECKING:
    import plotly.graph_objects as go


def arm_name(arm: Arm) -> str:
    return "α × k" if arm is Arm.ALPHA else "LR × k"


def _cells(p: AblationPoint | None, q: fmt.Quantity) -> list[str]:
    if p is None:
        return [fmt.MISSING] * 4
    return [
        p.state.value if p.final_value is None else q.fmt(p.final_value),
        fmt.MISSING if p.diverged_step is None else str(p.diverged_step),
        fmt.MISSING if p.steps_to_target is None else str(p.steps_to_target),
        fmt.DRIFT_RATIO.fmt(p.drift_ratio),
    ]


def stability(abl: Ablation) -> str:
    return "; ".join(
        f"{arm_name(arm)} " + ("diverged from the first k" if k is None else f"stable up to k={k:g}")
        for arm, k in ((arm, abl.largest_stable_k(arm)) for arm in Arm)
    )


@register
class AblationSection(Section[Ablation]):
    name = "ablation"
    title = "Matched-step ablation"
    order = 90

    def compute(self, summary: ExperimentSummary) -> Ablation | None:
        return ablation(summary)

    def json(self, summary: ExperimentSummary, data: Ablation) -> dict[str, Any]:
        return {"ablation": data.as_dict()}

    def text(self, summary: ExperimentSummary, data: Ablation) -> list[str]:
        target = fmt.metric(summary.metric).fmt(data.target)
        return [
            f"Matched-step ablation from r={data.rank}, α={fmt.ALPHA.fmt(data.alpha)}, "
            f"LR={fmt.LR.fmt(data.lr)}: one arm "
            f"multiplies α by k, the other the LR; same seed, data and steps. Target (for steps to target): {target}."
        ]

    def grids(self, summary: ExperimentSummary, data: Ablation) -> list[Grid]:
        q = fmt.metric(summary.metric)
        heads = ["final", "diverged at step", "steps to target", "drift ratio"]
        columns = ["k"] + [f"{arm_name(arm)}: {h}" for arm in Arm for h in heads]
        by_k = {arm: {p.k: p for p in points} for arm, points in data.arms.items()}
        ks = sorted({p.k for points in data.arms.values() for p in points})
        rows = [[f"{k:g}"] + [c for arm in Arm for c in _cells(by_k.get(arm, {}).get(k), q)] for k in ks]
        title = (
            f"{summary.experiment.name}: matched-step ablation from r={data.rank}, α={fmt.ALPHA.fmt(data.alpha)}, "
            f"LR={fmt.LR.fmt(data.lr)}; {fmt.metric_word(summary.metric)} ({summary.direction.value}), "
            f"target {q.fmt(data.target)}"
        )
        return [Grid(title=title, columns=columns, rows=rows, caption=stability(data))]

    def figures(self, summary: ExperimentSummary, data: Ablation) -> list[go.Figure]:
        """Final value and mean drift ratio against k, one line per arm; diverged points marked."""
        import plotly.graph_objects as go

        abl, q = data, fmt.metric(summary.metric)
        base = f"from r={abl.rank}, α={fmt.ALPHA.fmt(abl.alpha)}, LR={fmt.LR.fmt(abl.lr)}"
        final = plot.figure(
            f"Matched-step ablation {base}: final {fmt.metric_word(summary.metric)} (× = diverged)", "k", q, log_x=True
        )
        drift = plot.figure(
            f"Matched-step ablation {base}: mean drift ratio", "k", fmt.DRIFT_RATIO, log_x=True, log_y=True
        )
        top = max((p.final_value for ps in abl.arms.values() for p in ps if p.final_value is not None), default=1.0)
        for i, (arm, points) in enumerate(abl.arms.items()):
            name, color = arm_name(arm), plot.COLORS[i % len(plot.COLORS)]
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
        if abl.target is not None:
            final.add_hline(y=abl.target, line_dash="dot", annotation_text="target")
        return [f for f in (final, drift) if f.data]
