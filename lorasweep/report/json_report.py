"""``lorasweep report --json``: one document, each key from the report section that owns it
(lorasweep/report/sections/): the comparison per space, ``finding``, the science sections the
data allows, and ``warnings`` (``{"code", "message"}``: unequal s·LR coverage, a comparison
decided by the ranges, a best at an edge, too few seeds, ...). Each space's ``coverage`` is the
s·LR interval it searched per rank."""

from __future__ import annotations

from typing import Any

from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Report


def to_json(summary: ExperimentSummary, report: Report | None = None) -> dict[str, Any]:
    """The ``lorasweep report --json`` document."""
    return (report or Report.build(summary)).json()
