"""``lorasweep report``: an experiment's comparison as a table, JSON, an HTML page or notes in
optuna-dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from lorasweep.cli.console import err, print_failures
from lorasweep.cli.options import experiment_option, out_path, storage_option
from lorasweep.errors import LorasweepError


@click.command("report")
@storage_option
@experiment_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the HTML report here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--to-dashboard",
    is_flag=True,
    help="Write (or refresh) the comparison note and charts on every Optuna study of the experiment, "
    "for lorasweep dashboard; notes of your own on those studies are kept.",
)
def report(storage: str, experiment: str | None, out: Path | None, as_json: bool, to_dashboard: bool) -> None:
    """Show an experiment's comparison: table, JSON, a self-contained HTML page, or notes in optuna-dashboard."""
    from lorasweep.analysis.summary import summarize
    from lorasweep.report.sections import Report
    from lorasweep.store import Storage

    if out is not None:
        out = out_path(out, "file")
    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        record = st.experiment(experiment)
        summary = summarize(st, record)
        built = Report.build(summary)
        if as_json:
            from lorasweep.report.json_report import to_json

            click.echo(json.dumps(to_json(summary, built), indent=2))
        if out is not None:
            from lorasweep.report.html import write_html

            try:
                write_html(summary, out, built)
            except OSError as e:
                raise LorasweepError(f"--out {out}: cannot be written ({e.strerror}); pick another path") from e
            err().print(f"Wrote {out}", soft_wrap=True)
        if to_dashboard:
            from lorasweep.report.optuna_dashboard import publish

            done = publish(st, record)
            console = err()
            for what, names in (
                ("note written on", done.notes),
                ("charts saved on", done.charts),
                ("already up to date", done.unchanged),
            ):
                if names:
                    console.print(f"optuna-dashboard: {what} {', '.join(names)}")
            for name, why in done.skipped.items():
                console.print(f"[yellow]optuna-dashboard: left study {name} unchanged: {why}[/]")
        if not as_json and out is None and not to_dashboard:
            from lorasweep.report.table import terminal_report

            console = Console()
            console.print(terminal_report(summary, built))
            print_failures(console, summary)
