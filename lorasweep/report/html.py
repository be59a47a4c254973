"""The HTML report: one self-contained page (plotly.js inlined, opens offline) that reads as a
decision: the finding in words first, then the warnings, the side-by-side table, and one part
per report section that has charts or a table of its own (lorasweep/report/sections/).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from lorasweep import formatting as fmt
from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Grid, Report, Row

if TYPE_CHECKING:
    import plotly.graph_objects as go

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
  color:#222;line-height:1.45}
h1{margin-bottom:.1em}.meta{color:#666;margin-top:0}
.finding{font-size:1.15em;background:#f3f7fb;border-left:4px solid #1f77b4;padding:.6em 1em;margin:1em 0}
.finding p{margin:.3em 0}
.warnings{background:#fff8e6;border-left:4px solid #e6a700;padding:.4em 1em;margin:1em 0}
.warnings h2{font-size:1em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;
  vertical-align:top}th{background:#fafafa}tr th:first-child{text-align:left}
.star{color:#d4a000}section{margin:2em 0}.note{color:#444}
"""


def _lines(lines: list[str]) -> str:
    return "<br>".join(html.escape(x) for x in lines)


def _table(rows: list[Row], spaces: list[str], winner: str | None) -> str:
    head = "".join(f"<th>{html.escape(n)}{' <span class=star>★</span>' if n == winner else ''}</th>" for n in spaces)
    body = "".join(
        f"<tr><th>{html.escape(r.label)}</th>" + "".join(f"<td>{_lines(r.cell(n))}</td>" for n in spaces) + "</tr>"
        for r in rows
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _grid(g: Grid) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in g.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<{'th' if i == 0 else 'td'}>{html.escape(c)}</{'th' if i == 0 else 'td'}>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in g.rows
    )
    caption = f"<caption>{html.escape(g.title)}</caption>"
    after = f"<p class=note>{html.escape(g.caption)}</p>" if g.caption else ""
    return f"<table>{caption}<tr>{head}</tr>{body}</table>{after}"


def _paragraphs(texts: list[str], cls: str = "note") -> str:
    return "".join(f"<p class={cls}>{_lines(t.splitlines())}</p>" for t in texts)


def figures(summary: ExperimentSummary, report: Report | None = None) -> list[go.Figure]:
    """Every chart of the report, in report order."""
    return [f for _, f in (report or Report.build(summary)).figures()]


def page(summary: ExperimentSummary, report: Report | None = None) -> str:
    """The report as one HTML page."""
    report = report or Report.build(summary)
    s = summary
    spaces = list(s.spaces)
    title = f"lorasweep report: {s.experiment.name}"
    config = s.config
    meta = [f"{fmt.metric(s.metric).label} ({s.direction.value})"]
    if spaces:
        meta.append(f"{len(spaces)} spaces: {', '.join(spaces)}")
    if config is not None:
        meta.append(f"ranks {', '.join(map(str, config.ranks))}")
    meta.append(f"status {s.experiment.status.value}")

    out = [f"<header><h1>{html.escape(title)}</h1><p class=meta>{html.escape(' · '.join(meta))}</p></header>"]
    if finding := report.finding():
        out.append(f'<section id="finding" class="finding">{_paragraphs(finding, "sentence")}</section>')
    if warnings := report.shown_warnings():
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        out.append(f'<section id="warnings" class="warnings"><h2>Warnings</h2><ul>{items}</ul></section>')

    drawn = {p.section.name: p.section.figures(s, p.data) for p in report.parts}
    own = {p.section.name: p.section.grids(s, p.data) for p in report.parts}
    rows = report.rows()
    if rows:  # sentences of sections without a part of their own go under the table (the verdict)
        loose = [
            t
            for p in report.parts
            if p.section.name != "finding" and not drawn[p.section.name] and not own[p.section.name]
            for t in p.section.text(s, p.data)
        ]
        winner = fp.data.winner if (fp := report.part("finding")) is not None else None
        table = _table(rows, spaces, winner)
        out.append(f'<section id="comparison"><h2>Side by side</h2>{table}{_paragraphs(loose)}</section>')

    first = True
    for p in report.parts:
        figs, grids = drawn[p.section.name], own[p.section.name]
        if not figs and not grids:
            continue
        charts = []
        for f in figs:
            charts.append(
                f.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True})
            )
            first = False
        texts = p.section.text(s, p.data)
        out.append(
            f'<section id="{p.section.name}"><h2>{html.escape(p.section.title)}</h2>{_paragraphs(texts)}'
            + "".join(_grid(g) for g in grids)
            + "".join(charts)
            + "</section>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style>
</head><body>
{"".join(out)}
</body></html>"""


def write_html(summary: ExperimentSummary, out: Path, report: Report | None = None) -> None:
    out.write_text(page(summary, report), encoding="utf-8")
