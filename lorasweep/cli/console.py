"""What the commands print: the console, the progress bars of a search, logging and warnings
setup, and the lines after a search (failures, coverage warnings, the report command)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lorasweep import formatting

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary
    from lorasweep.config import Direction


def err() -> Console:
    """The console on stderr (progress, warnings, where the report is)."""
    return Console(stderr=True, highlight=False)


def search_progress(console: Console) -> Progress:
    """The progress display of a search: one bar per study, its best value so far, elapsed time."""
    columns = [
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=console, transient=False)


class StudyBars:
    """Progress bars, one per (space, rank) study, with the best value so far: the CLI's
    :class:`~lorasweep.search.plan.ProgressListener`."""

    def __init__(self, progress: Progress, direction: Direction, metric: str) -> None:
        self.progress, self.direction = progress, direction
        self.quantity = formatting.metric(metric)  # "best 1.000", as the table shows it
        self.tasks: dict[str, Any] = {}
        self.best: dict[str, float] = {}

    def _key(self, plan: Any) -> str:
        return plan.study_name

    def study_started(self, plan: Any, total: int) -> None:
        self.tasks[self._key(plan)] = self.progress.add_task(plan.label, total=total, best="best —")

    def trial_done(self, plan: Any, state: Any, value: float | None) -> None:
        key = self._key(plan)
        if value is not None:
            old = self.best.get(key)
            self.best[key] = value if old is None or self.direction.better(value, old) else old
        best = self.best.get(key)
        self.progress.update(self.tasks[key], advance=1, best=f"best {self.quantity.fmt(best)}")

    def study_done(self, plan: Any) -> None:
        pass


def quiet() -> None:
    """Without --verbose: no warnings or logs from the training and search libraries."""
    import logging
    import warnings

    from lorasweep.train.model import quiet_transformers

    quiet_transformers()
    for module in ("transformers", "peft", "torch", "ray", "accelerate"):
        warnings.filterwarnings("ignore", module=module)
    # Trial failures are recorded and summarized after the table; Ray's tracebacks are --verbose.
    logging.getLogger("ray").setLevel(logging.CRITICAL)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def verbose_log() -> None:
    """--verbose: lorasweep's own log (database retries, warnings) on stderr."""
    import logging

    logger = logging.getLogger("lorasweep")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def shown(url: str) -> str:
    """A database URL as it may be printed: every password masked."""
    from lorasweep.store import safe_url

    return safe_url(url)


def report_command(url: str, experiment: str) -> str:
    """The command that shows an experiment's report: ready to paste, every password masked."""
    import shlex

    return f"lorasweep report --storage {shlex.quote(shown(url))} --experiment {experiment} --out report.html"


def print_failures(console: Console, summary: ExperimentSummary) -> None:
    """How many trials failed and the first error; the coverage warnings of a comparison."""
    from lorasweep.store import TrialState

    failed = [t for s in summary.spaces.values() for t in s.trials if t.state == TrialState.FAILED]
    failed += [t for ts in summary.ablation_trials.values() for t in ts if t.state == TrialState.FAILED]
    if failed:
        console.print(f"[red]{len(failed)} trial(s) failed[/]; first error: {failed[0].error}", markup=True)
    if summary.config is not None and summary.config.ablation is None:
        from lorasweep.analysis.coverage import coverage_warnings

        for warning in coverage_warnings(summary):
            console.print(f"[yellow]Warning:[/] {warning['message']}", markup=True, highlight=False)


def echo_yaml(model: Any) -> None:
    """A validated config, printed back as YAML (a valid file of its kind)."""
    import yaml

    click.echo(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False).rstrip())


def json_line(doc: dict[str, Any]) -> str:
    """Strict JSON: NaN (no value, e.g. after divergence) becomes null."""
    return json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in doc.items()})


def clip(text: str, limit: int = 60) -> str:
    """A value a user typed, shortened for a one-line message."""
    return text if len(text) <= limit else f"{text[: limit - 12]}... ({len(text)} characters)"
