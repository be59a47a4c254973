"""The search's progress bars show the best so far in the metric's own format, as the table does:
accuracy 1 reads ``best 1.000`` (it read ``best 1`` beside another bar's ``best 0.998``), and a
minimized metric keeps its lowest value. A real rich Progress, recorded, no Ray."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from lorasweep.cli.console import StudyBars, search_progress
from lorasweep.config import Direction


def _shown(direction: Direction, metric: str, values: list[float | None]) -> str:
    console = Console(record=True, width=120, force_terminal=False)
    with search_progress(console) as progress:
        bars = StudyBars(progress, direction, metric)
        plan = SimpleNamespace(study_name="e/lr_only/r8", label="lr_only r=8")
        bars.study_started(plan, total=len(values))
        for v in values:
            bars.trial_done(plan, None, v)
        bars.study_done(plan)
    return console.export_text()


def test_accuracy_reads_as_the_table_writes_it() -> None:
    out = _shown(Direction.MAXIMIZE, "accuracy", [0.998, None, 1.0])
    assert "best 1.000" in out, out
    out = _shown(Direction.MAXIMIZE, "accuracy", [0.5, 0.998])
    assert "best 0.998" in out, out


def test_a_minimized_metric_keeps_its_lowest() -> None:
    out = _shown(Direction.MINIMIZE, "eval_loss", [0.9, 0.31, 0.5])
    assert "best 0.3100" in out and "0.5000" not in out and "0.9000" not in out, out


def test_no_value_yet_reads_as_a_dash() -> None:
    assert "best —" in _shown(Direction.MAXIMIZE, "accuracy", [None])
