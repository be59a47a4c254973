"""``lorasweep rank-law``: search α at each rank and fit α* = c·r^p."""

from __future__ import annotations

import click

from lorasweep.cli.options import SearchArgs, given_path, ranks, search_args, space
from lorasweep.cli.run import run_search
from lorasweep.errors import ConfigError


@click.command("rank-law")
@click.option(
    "--space", "space_name", default="lora_alpha", show_default=True, help="A space that searches α (or c) at fixed LR."
)
@click.option("--ranks", "ranks_text", default="4,8,16,32,64", show_default=True, help="Comma-separated ranks.")
@search_args
def rank_law(args: SearchArgs, space_name: str, ranks_text: str) -> None:
    """Search α at each rank and fit α* = c·r^p (OLS in log space, t-intervals from 3 ranks)."""
    from lorasweep.report.sections import Report
    from lorasweep.report.sections.rank_law import rank_law_lines

    if not space(space_name).searches_alpha:
        raise ConfigError(f"--space {space_name} does not search alpha; pick a space that searches alpha or c")
    overrides = {"spaces": [given_path(space_name)], "ranks": ranks(ranks_text)}
    summary = run_search(args, overrides)
    part = Report.build(summary, only={"rank_law"}).part("rank_law")
    if part is None:  # the space searches α (checked above): no trial ran at 2 ranks or more
        raise ConfigError(f"--space {space_name} has trials at fewer than 2 ranks; nothing to fit: see the table above")
    for line in rank_law_lines(part.data):
        click.echo(line)
