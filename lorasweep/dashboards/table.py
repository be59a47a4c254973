"""The terminal table: one column per space, side by side."""

from __future__ import annotations

from rich.table import Table

from lorasweep.analysis.coverage import SpaceCoverage, coverages
from lorasweep.dashboards.science import (
    Ablation,
    AblationPoint,
    RankLaw,
    ablation,
    rank_law,
    seed_comparison,
    verdict_text,
)
from lorasweep.dashboards.summary import ExperimentSummary
from lorasweep.search.ablation import Arm
from lorasweep.store import TrialRecord, TrialState


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "—" if x is None else format(x, fmt)


def _params(p: dict) -> str:
    if not p:
        return "—"
    return f"r={p['r']} α={p['alpha']:.4g} (c={p['c']:.3g})\nLR={p['lr']:.3g} s·LR={p['effective_step']:.3g}"


def _coverage(c: SpaceCoverage | None) -> str:
    if c is None:
        return "—"
    return "\n".join(f"r={r}: {lo:.2g}–{hi:.2g}" for r, (lo, hi) in sorted(c.ranges.items()))


def _retried(trials: list[TrialRecord]) -> str:
    """``"\nN retried (M re-runs)"``: trials that Ray ran again after their worker or node was lost."""
    retried = [t.retries for t in trials if t.retries]
    return f"\n{len(retried)} retried ({sum(retried)} re-runs)" if retried else ""


def comparison_table(summary: ExperimentSummary) -> Table:
    spaces = list(summary.spaces.values())
    cov = coverages(summary)
    seeds = seed_comparison(summary)
    winner = seeds.winner if seeds is not None else None
    table = Table(title=f"{summary.experiment.name}: {summary.metric} ({summary.direction.value})", show_lines=True)
    table.add_column("")
    for s in spaces:  # ★: the space the seed verdict names better, and only that one
        table.add_column(s.name + (" ★" if s.name == winner else ""), justify="right")
    target = f"within {summary.within:.0%} of best ({_num(summary.target)})"
    rows = [
        (f"best {summary.metric}", [_num(s.best_value) for s in spaces]),
        (f"best reached target\n({target},\none search seed)", ["yes" if s.reached_target else "no" for s in spaces]),
        ("best params", [_params(s.best_params) for s in spaces]),
        (
            "trials",
            [
                f"{s.n_trials}: {s.counts[TrialState.COMPLETE]} complete, {s.counts[TrialState.PRUNED]} pruned,\n"
                f"{s.counts[TrialState.DIVERGED]} diverged, {s.counts[TrialState.FAILED]} failed"
                + (f", {s.counts[TrialState.RUNNING]} running" if s.counts[TrialState.RUNNING] else "")
                + (f", {s.counts[TrialState.INTERRUPTED]} interrupted" if s.counts[TrialState.INTERRUPTED] else "")
                + _retried(s.trials)
                for s in spaces
            ],
        ),
        ("s·LR searched", [_coverage(cov.get(s.name)) for s in spaces]),
        ("device-seconds", [_num(s.device_seconds, ".1f") for s in spaces]),
        ("wall seconds", [_num(s.wall_seconds, ".1f") for s in spaces]),
        (
            f"device-s to target\n({target})",
            [_num(s.cost_to_target, ".1f") if s.cost_to_target is not None else "not reached" for s in spaces],
        ),
        ("Optuna studies", ["\n".join(s.optuna_studies) for s in spaces]),
    ]
    if seeds is not None:
        rows.append(("re-run on new seeds\nmean [95% t-interval] (n)", [seeds.cell(s.name) for s in spaces]))
    for label, cells in rows:
        table.add_row(label, *cells)
    captions = []
    if (text := verdict_text(summary, seeds)) is not None:
        star = f" ★ marks {winner}." if winner is not None else ""
        captions.append(f"Verdict: {text}.{star}")
    if (law := rank_law(summary)) is not None:
        captions.append(rank_law_line(law))
    if captions:
        table.caption = "\n".join(captions)
    return table


def rank_law_line(law: RankLaw) -> str:
    """The rank law in one or two lines: the space and why, the fit, what its interval can tell."""
    head = f"Rank law on {law.space_reason}"
    if law.fit is None:
        return f"{head}: no fit ({law.reason})"
    f = law.fit
    interval = f", p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}]" if f.p_ci is not None else ""
    left = f"; left out: {', '.join(f'r={r}' for r in law.excluded)}" if law.excluded else ""
    return f"{head}: alpha* = {f.c:.4g} · r^{f.p:.3f}{interval}{left}\n{law.verdict}"


def _point_cells(p: AblationPoint | None) -> list[str]:
    if p is None:
        return ["—"] * 4
    final = p.state.value if p.final_value is None else _num(p.final_value)
    return [
        final,
        "—" if p.diverged_step is None else str(p.diverged_step),
        "—" if p.steps_to_target is None else str(p.steps_to_target),
        _num(p.drift_ratio, ".3g"),
    ]


def ablation_table(summary: ExperimentSummary, abl: Ablation) -> Table:
    """One row per k: each arm's final value, divergence step, steps to target and drift ratio."""
    table = Table(
        title=(
            f"{summary.experiment.name}: matched-step ablation from r={abl.rank}, α={abl.alpha:g}, LR={abl.lr:g}; "
            f"{summary.metric} ({summary.direction.value}), target {_num(abl.target)}"
        )
    )
    table.add_column("k", justify="right")
    for arm in Arm:
        name = "α×k" if arm is Arm.ALPHA else "LR×k"
        for head in (f"{name}\nfinal", "diverged\nat step", "steps to\ntarget", "drift\nratio"):
            table.add_column(head, justify="right")
    ks = sorted({p.k for points in abl.arms.values() for p in points})
    by_k = {arm: {p.k: p for p in points} for arm, points in abl.arms.items()}
    for k in ks:
        table.add_row(f"{k:g}", *[c for arm in Arm for c in _point_cells(by_k.get(arm, {}).get(k))])
    stable = {arm: abl.largest_stable_k(arm) for arm in Arm}
    table.caption = "; ".join(
        f"{'α×k' if arm is Arm.ALPHA else 'LR×k'} "
        + ("diverged from the first k" if k is None else f"stable up to k={k:g}")
        for arm, k in stable.items()
    )
    return table


def experiment_table(summary: ExperimentSummary) -> Table:
    """The ablation's table for an ablation experiment, else the side-by-side comparison."""
    abl = ablation(summary)
    return ablation_table(summary, abl) if abl is not None else comparison_table(summary)
