"""``lorasweep landscape``: grid LR × α and show whether the metric follows s·LR."""

from __future__ import annotations

import dataclasses

import click

from lorasweep.cli.options import SearchArgs, given_path, search_args, space
from lorasweep.cli.run import run_search
from lorasweep.errors import ConfigError


@click.command("landscape")
@click.option(
    "--space", "space_name", default="joint", show_default=True, help="A space that searches LR and α together."
)
@click.option("--points", type=click.IntRange(2, 20), default=5, show_default=True, help="Grid points per axis.")
@search_args
def landscape(args: SearchArgs, space_name: str, points: int) -> None:
    """Grid LR × α; show whether the metric follows the effective step s·LR."""
    from lorasweep.report.sections import Report

    sp = space(space_name)
    if not (sp.searches_lr and sp.searches_alpha):
        raise ConfigError(f"--space {space_name} does not search both LR and alpha; use joint or a space like it")
    overrides = {
        "spaces": [given_path(space_name)],
        "sampler": {"name": "grid", "options": {"points_per_param": points}},
        "scheduler": {"name": "fifo"},
        "budget.trials": args.trials or points * points,
    }
    summary = run_search(dataclasses.replace(args, trials=None), overrides)
    part = Report.build(summary, only={"landscape"}).part("landscape")
    if part is None:
        raise ConfigError(f"--space {space_name} does not search both LR and α; use joint or a space like it")
    land = part.data
    for label, value in (("s·LR", land.effective_step_r2), ("alpha", land.alpha_r2), ("LR", land.lr_r2)):
        shown = "—" if value is None else f"{value:.0%}"
        click.echo(f"{label:<6} alone explains {shown} of the {summary.metric} spread over the grid")
