"""The side-by-side table's first rows: what each space searches, its best value, whether that
reached the target, the best parameters (with s·LR), trials by state and the Optuna studies."""

from __future__ import annotations

from typing import Any

from lorasweep import formatting as fmt
from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary
from lorasweep.config import FloatRange, SpaceConfig
from lorasweep.report.sections import Row, Section, register
from lorasweep.store import TrialState


def describe(space: SpaceConfig) -> list[str]:
    """What a space searches and what it holds fixed, e.g. ``["searches LR", "α = 2r"]``."""
    searched: list[str] = []
    fixed: list[str] = []
    if isinstance(space.lr, FloatRange) or space.lr == "matched":
        searched.append("LR")
    else:
        fixed.append(f"LR = {fmt.LR.fmt(float(space.lr))}")
    (searched if space.alpha.searches else fixed).append(space.alpha.describe())  # the rule says what it does
    if isinstance(space.loraplus_lr_ratio, FloatRange):
        searched.append("LoRA+ ratio")
    elif space.loraplus_lr_ratio is not None:
        fixed.append(f"LoRA+ ratio {space.loraplus_lr_ratio:g}")
    if space.use_rslora:
        fixed.append("rsLoRA (s = α/√r)")
    return [f"searches {', '.join(searched)}" if searched else "searches nothing", *fixed]


def trial_counts(s: SpaceSummary) -> list[str]:
    c = s.counts
    line = f"{c[TrialState.COMPLETE]} complete, {c[TrialState.PRUNED]} pruned"
    more = f"{c[TrialState.DIVERGED]} diverged, {c[TrialState.FAILED]} failed"
    if c[TrialState.RUNNING]:
        more += f", {c[TrialState.RUNNING]} running"
    if c[TrialState.INTERRUPTED]:
        more += f", {c[TrialState.INTERRUPTED]} interrupted"
    retried = [t.retries for t in s.trials if t.retries]  # re-run by Ray after a lost worker or node
    tail = [f"{len(retried)} retried ({sum(retried)} re-runs)"] if retried else []
    return [f"{s.n_trials}: {line},", more, *tail]


@register
class SummarySection(Section[ExperimentSummary]):
    name = "summary"
    title = "Side by side"
    order = 10

    def compute(self, summary: ExperimentSummary) -> ExperimentSummary | None:
        return summary if summary.spaces else None

    def json(self, summary: ExperimentSummary, data: ExperimentSummary) -> dict[str, Any]:
        return {
            "spaces": {
                name: {
                    "best_value": s.best_value,
                    "best_params": s.best_params,
                    "reached_target": s.reached_target,
                    "n_trials": s.n_trials,
                    "n_complete": s.counts[TrialState.COMPLETE],
                    "n_pruned": s.counts[TrialState.PRUNED],
                    "n_failed": s.counts[TrialState.FAILED],
                    "n_diverged": s.counts[TrialState.DIVERGED],
                    "n_running": s.counts[TrialState.RUNNING],
                    "n_interrupted": s.counts[TrialState.INTERRUPTED],
                    "n_retried": sum(1 for t in s.trials if t.retries),  # re-run after a lost worker or node
                    "retries": sum(t.retries for t in s.trials),
                    "optuna_studies": s.optuna_studies,
                }
                for name, s in data.spaces.items()
            }
        }

    def rows(self, summary: ExperimentSummary, data: ExperimentSummary) -> list[Row]:
        q, spaces = fmt.metric(summary.metric), data.spaces
        configs = {s.name: s for s in summary.config.spaces} if summary.config is not None else {}
        rows = []
        if configs:
            rows.append(Row(label="Searches", cells={n: describe(configs[n]) for n in spaces if n in configs}))
        rows += [
            Row(
                label=f"Best {fmt.metric_word(summary.metric)} (eval split, selected on)",
                cells={n: [q.fmt(s.best_value)] for n, s in spaces.items()},
            ),
        ]
        if summary.target is not None:
            rows.append(
                Row(
                    label=f"Best reached the target ({q.fmt(summary.target)}, {summary.target_source}; "
                    "one search seed)",
                    cells={n: ["yes" if s.reached_target else "no"] for n, s in spaces.items()},
                )
            )
        rows += [
            Row(label="Best parameters", cells={n: fmt.params(s.best_params) for n, s in spaces.items()}),
            Row(label="Trials", cells={n: trial_counts(s) for n, s in spaces.items()}),
            Row(label="Optuna studies", cells={n: list(s.optuna_studies) for n, s in spaces.items()}),
        ]
        return rows
