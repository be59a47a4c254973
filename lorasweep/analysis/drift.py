"""The mean drift ratio per step, per space."""

from __future__ import annotations

from lorasweep.analysis.summary import ExperimentSummary


def drift_curves(summary: ExperimentSummary) -> dict[str, list[tuple[int, float]]]:
    """Per space: (step, mean drift ratio over its trials' reports at that step)."""
    return summary.drift
