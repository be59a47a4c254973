"""``lorasweep report --json``: one document from the summary and the science sections."""

from __future__ import annotations

from typing import Any

from lorasweep.analysis.coverage import coverage_warnings, coverages
from lorasweep.dashboards.science import science_json, seed_comparison, verdict_warnings
from lorasweep.dashboards.summary import ExperimentSummary
from lorasweep.store import TrialState


def to_json(summary: ExperimentSummary) -> dict[str, Any]:
    """The ``lorasweep report --json`` document: the comparison, then the sections the data allows,
    then ``warnings`` (``{"code", "message"}``: unequal s·LR coverage, a comparison decided by the
    ranges, a best at an edge, too few seeds, ...). Each space's ``coverage`` is the s·LR interval it
    searched per rank."""
    cov = coverages(summary)
    doc: dict[str, Any] = {
        "experiment": summary.experiment.name,
        "status": summary.experiment.status.value,
        "metric": summary.metric,
        "direction": summary.direction.value,
        "target": {"within": summary.within, "value": summary.target},
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
                "device_seconds": s.device_seconds,
                "wall_seconds": s.wall_seconds,
                "cost_to_target": s.cost_to_target,
                "optuna_studies": s.optuna_studies,
                "coverage": cov[name].as_dict() if name in cov else None,
            }
            for name, s in summary.spaces.items()
        },
        "warnings": coverage_warnings(summary),
        **science_json(summary),
    }
    doc.setdefault("warnings", []).extend(verdict_warnings(summary, seed_comparison(summary)))
    return doc
