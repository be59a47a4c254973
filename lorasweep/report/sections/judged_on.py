"""Judged on: the split the search selected on (eval) and the test split the seed re-runs and
ablation points are measured on, with how it was made, and each space's re-runs on it."""

from __future__ import annotations

from typing import Any

from lorasweep import formatting as fmt
from lorasweep.analysis.judged_on import JudgedOn, judged_on
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Row, Section, register


@register
class JudgedOnSection(Section[JudgedOn]):
    name = "judged_on"
    title = "Judged on"
    order = 38  # just before the seed verdict, which it qualifies

    def compute(self, summary: ExperimentSummary) -> JudgedOn | None:
        return judged_on(summary)

    def json(self, summary: ExperimentSummary, data: JudgedOn) -> dict[str, Any]:
        return {
            "test_split": data.as_dict(),
            "spaces": {
                name: {"test": {"n": len(values), "median": data.median(name), "values": values}}
                for name, values in data.reruns.items()
            },
        }

    def rows(self, summary: ExperimentSummary, data: JudgedOn) -> list[Row]:
        if not data.n_reruns:
            return []
        q = fmt.metric(summary.metric)
        cells = {
            name: [f"{q.fmt(data.median(name))} (n = {len(data.reruns[name])} of {n})"]
            for name, n in data.n_reruns.items()
        }
        return [Row(label=f"Seed re-runs' {fmt.metric_word(summary.metric)} on the test split (median)", cells=cells)]

    def text(self, summary: ExperimentSummary, data: JudgedOn) -> list[str]:
        line = (
            f"Test split: {data.how}. The search selected its configs on the eval split ({data.n_eval} examples), "
            "so each space's best is an eval value; seed re-runs and ablation points are also measured once, "
            "at their end, on the test split, which no search trial saw."
        )
        if data.n_reruns and not any(data.reruns.values()):
            line += " No re-run has a test value (stored before test splits, or the task's kind has none)."
        return [line]
