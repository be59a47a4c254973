"""What the analyses share: the complete trials, and which space an analysis reads and why."""

from __future__ import annotations

from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.config import SpaceConfig
from lorasweep.store import TrialRecord, TrialState


def complete_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that completed with a value."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.final_value is not None]


def space_configs(summary: ExperimentSummary) -> dict[str, SpaceConfig]:
    """The experiment's space configs that have a summary, by name (config order)."""
    config = summary.config
    if config is None:
        return {}
    return {s.name: s for s in config.spaces if s.name in summary.spaces}


def space_reason(name: str, why: str, candidates: list[str], what: str) -> str:
    """Why ``name`` was chosen, naming the other ``candidates`` (spaces that are also ``what``)."""
    others = [n for n in candidates if n != name]
    also = f"; also {what}, not used: {', '.join(others)}" if others else ""
    return f"{name} {why}{also}"
