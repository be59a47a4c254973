"""The terminal table: one column per space, side by side."""

from __future__ import annotations

from rich.table import Table

from lorasweep.dashboards.science import seed_comparison
from lorasweep.dashboards.summary import ExperimentSummary
from lorasweep.store import TrialState


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "—" if x is None else format(x, fmt)


def _params(p: dict) -> str:
    if not p:
        return "—"
    return f"r={p['r']} α={p['alpha']:.4g} (c={p['c']:.3g})\nLR={p['lr']:.3g} s·LR={p['effective_step']:.3g}"


def comparison_table(summary: ExperimentSummary) -> Table:
    spaces = list(summary.spaces.values())
    table = Table(title=f"{summary.experiment.name}: {summary.metric} ({summary.direction.value})", show_lines=True)
    table.add_column("")
    for s in spaces:  # ★: best within the target of the overall best (several stars mean a tie)
        table.add_column(s.name + (" ★" if s.reached_target else ""), justify="right")
    target = f"within {summary.within:.0%} of best ({_num(summary.target)})"
    rows = [
        (f"best {summary.metric}", [_num(s.best_value) for s in spaces]),
        ("best params", [_params(s.best_params) for s in spaces]),
        (
            "trials",
            [
                f"{s.n_trials}: {s.counts[TrialState.COMPLETE]} complete, {s.counts[TrialState.PRUNED]} pruned,\n"
                f"{s.counts[TrialState.DIVERGED]} diverged, {s.counts[TrialState.FAILED]} failed"
                + (f", {s.counts[TrialState.RUNNING]} running" if s.counts[TrialState.RUNNING] else "")
                for s in spaces
            ],
        ),
        ("device-seconds", [_num(s.device_seconds, ".1f") for s in spaces]),
        ("wall seconds", [_num(s.wall_seconds, ".1f") for s in spaces]),
        (
            f"device-s to target\n({target})",
            [_num(s.cost_to_target, ".1f") if s.cost_to_target is not None else "not reached" for s in spaces],
        ),
        ("Optuna studies", ["\n".join(s.optuna_studies) for s in spaces]),
    ]
    seeds = seed_comparison(summary)
    if seeds is not None:
        rows.append(
            (
                "re-run on new seeds\nmean [95% CI] (n)",
                [
                    f"{iv.mean:.4g} [{iv.lo:.4g}, {iv.hi:.4g}] ({iv.n})" if (iv := seeds.per_space.get(s.name)) else "—"
                    for s in spaces
                ],
            )
        )
    for label, cells in rows:
        table.add_row(label, *cells)
    if seeds is not None and seeds.verdict:
        table.caption = f"Verdict over seeds: {seeds.verdict}"
    return table
