"""The terminal report: the opening sentences, the warnings, then one table with one column per
space (the rows of every report section, the labels and number formats of the HTML page) and the
sections' own tables (the ablation's)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Grid, Report


def _winner(report: Report) -> str | None:
    p = report.part("finding")
    return p.data.winner if p is not None else None


def comparison_table(summary: ExperimentSummary, report: Report | None = None) -> Table:
    """One column per space; ★ marks the space the seed verdict names better, and only that one.
    The caption holds the sections' sentences (the verdict, the rank law, ...)."""
    report = report or Report.build(summary)
    spaces = list(summary.spaces)
    winner = _winner(report)
    table = Table(title=report.title, show_lines=True)
    table.add_column("")
    for name in spaces:
        table.add_column(name + (" ★" if name == winner else ""), justify="right")
    for row in report.rows():
        table.add_row(row.label, *["\n".join(row.cell(n)) for n in spaces])
    if notes := report.notes():
        table.caption = "\n".join(notes)
    return table


def grid_table(grid: Grid) -> Table:
    table = Table(title=grid.title)
    for i, column in enumerate(grid.columns):
        table.add_column(column.replace(": ", "\n"), justify="right" if i else "left")
    for row in grid.rows:
        table.add_row(*row)
    if grid.caption:
        table.caption = grid.caption
    return table


def experiment_table(summary: ExperimentSummary, report: Report | None = None) -> Table:
    """The side-by-side comparison, or, for an experiment without compared spaces (an ablation),
    its section's own table."""
    report = report or Report.build(summary)
    grids = report.grids()
    if not summary.spaces and grids:
        return grid_table(grids[0])
    return comparison_table(summary, report)


def stacked(table: Table) -> Group:
    """``table`` as lines, for a terminal too narrow for its columns: one block per column after the
    first (its header, then ``label: value`` per row), every value whole, wrapped at spaces; a cell's
    lines are joined with "; " so that they stay apart."""
    columns = table.columns
    labels = [" ".join(str(c).split()) for c in columns[0].cells] if columns else []
    lines: list[RenderableType] = []
    if table.title:
        lines.append(Text(str(table.title), style="bold"))
    for column in columns[1:]:
        lines.append(Text(" ".join(str(column.header).split()), style="bold"))
        for label, cell in zip(labels, column.cells, strict=True):
            value = "; ".join(" ".join(line.split()) for line in str(cell).splitlines() if line.strip())
            lines.append(Text(f"  {label}: {value}" if label else f"  {value}", overflow="fold"))
    if table.caption:
        lines.append(Text(str(table.caption), overflow="fold"))
    return Group(*lines)


class Fitted:
    """A table, or (where the terminal is narrower than its columns' longest words) its
    :func:`stacked` form: the terminal never cuts a value short with "…"."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        needed = Measurement.get(console, options.update(width=10_000), self.table).minimum
        yield self.table if needed <= options.max_width else stacked(self.table)


def terminal_report(summary: ExperimentSummary, report: Report | None = None) -> RenderableType:
    """What ``lorasweep report`` prints: the finding, the warnings, the table(s) (stacked where
    the terminal is too narrow for them)."""
    report = report or Report.build(summary)
    parts: list[RenderableType] = []
    if finding := report.finding():
        parts.append(Text(" ".join(finding), style="bold"))
    if warnings := report.shown_warnings():
        parts.append(Text("Warnings:", style="yellow bold"))
        parts += [Text(f"  • {w}", style="yellow") for w in warnings]
    parts.append(Text(""))
    main = experiment_table(summary, report)
    parts.append(Fitted(main))
    grids = report.grids()
    parts += [Fitted(grid_table(g)) for g in (grids[1:] if not summary.spaces else grids)]
    return Group(*parts)
