"""optuna-dashboard: ``lorasweep dashboard`` serves it on the experiment's database, and
:func:`publish` puts the report where a reviewer looks there: on every Optuna study of an
experiment, a note with the comparison and the report's key charts.

The note is written with optuna-dashboard's own API. optuna-dashboard keeps one Markdown note
per study (in the study's system attrs, versioned; the dashboard's editor saves a new version),
so lorasweep's part is one block between two invisible Markdown markers (link reference
definitions, ``[//]: # (...)``): a refresh replaces that block and nothing else, and whatever a
user wrote above or below it stays. A note whose markers were edited away is left alone and
reported. Charts are saved with ``save_plotly_graph_object`` under fixed ids, so a refresh
overwrites them instead of adding copies. Studies are found through the experiment's own rows
and written only when their ``experiment`` user attr names this experiment.

The storage object is handed to the server in-process, so the URL (and any password in it) never
shows up on a command line. It binds 127.0.0.1 unless told otherwise, and it is read-only: its
database connections cannot write, and the dashboard's write endpoints (delete, rename, notes,
tell, user attrs, artifacts) answer 405 with the reason, so nothing a click does can take a study
away from under lorasweep's records.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorasweep.errors import LorasweepError
from lorasweep.store import ExperimentRecord, Storage, optuna_storage

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication

    from lorasweep.report.sections import Report, Row

log = logging.getLogger("lorasweep.report")

BEGIN = (
    "[//]: # (lorasweep:begin. This block is written by lorasweep and replaced on every refresh; "
    "write your own notes above or below it.)"
)
END = "[//]: # (lorasweep:end)"
#: Our own study system attr: a digest of the charts last saved (a refresh with the same charts writes nothing).
CHARTS_DIGEST = "lorasweep:charts_digest"
CHART_ID = "lorasweep-{section}-{i}"


class NoteConflict(LorasweepError):
    """A study's note holds lorasweep's markers, but not as one begin/end pair."""


#: HTTP methods that only read: optuna-dashboard's API changes studies through every other one.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refusal(method: str, path: str) -> str:
    """Why ``lorasweep dashboard`` answers ``method path`` with 405 (optuna-dashboard shows a
    JSON ``reason`` to the user)."""
    return (
        f"lorasweep dashboard is read-only: {method} {path} would change the stored studies, trials or notes "
        "under lorasweep's own records, so it was refused and nothing changed. Notes and charts are written by "
        "lorasweep report --to-dashboard; experiments are changed with lorasweep compare"
    )


def read_only(app: WSGIApplication) -> WSGIApplication:
    """``app`` with every request that could write refused (405, a JSON ``reason``), before it
    reaches optuna-dashboard: deleting, renaming or annotating a study there would leave
    lorasweep's tables naming trials Optuna no longer has."""

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method in READ_METHODS:
            return app(environ, start_response)
        reason = refusal(method, str(environ.get("PATH_INFO", "/")))
        log.warning("%s", reason)
        body = json.dumps({"reason": reason}).encode()
        start_response(
            "405 Method Not Allowed",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Allow", ", ".join(sorted(READ_METHODS))),
            ],
        )
        return [body]

    return guarded


def serve(storage: Storage, host: str = "127.0.0.1", port: int = 8080) -> None:
    """optuna-dashboard on ``storage``, read-only twice over: its connections cannot write
    (:func:`~lorasweep.store.optuna_storage` with ``read_only``) and its write endpoints are
    refused (:func:`read_only`). Blocks until stopped (Ctrl-C)."""
    from bottle import run
    from optuna_dashboard import wsgi

    run(read_only(wsgi(optuna_storage(storage, read_only=True))), host=host, port=port)


# -- the note ---------------------------------------------------------------------------------


def md(text: str) -> str:
    """``text`` as literal Markdown (no emphasis, code, links, HTML or table breaks from it)."""
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text


def _cell(lines: list[str]) -> str:
    out = ""
    for line in lines:
        out += line if not out else (" " if out.endswith(",") else " · ") + line
    return md(out)


def _table(rows: list[Row], spaces: list[str]) -> list[str]:
    head = "| | " + " | ".join(md(n) for n in spaces) + " |"
    rule = "|---|" + "---:|" * len(spaces)
    return [
        head,
        rule,
        *(f"| **{md(r.label)}** | " + " | ".join(_cell(r.cell(n)) for n in spaces) + " |" for r in rows),
    ]


def note_block(report: Report, study: str, space: str, rank: int) -> str:
    """lorasweep's block for one study's note (markers included): the experiment, this study,
    the opening sentences, the warnings, the side-by-side table, the sections' sentences (the
    verdict with its interval or why there is none), the spaces and their studies."""
    s = report.summary
    name = s.experiment.name
    lines = [
        BEGIN,
        "",
        f"### lorasweep · {md(report.title)}",
        "",
        f"This study: **{md(space)}** at r={rank} (`{study}`). Experiment status: {s.experiment.status.value}.",
        "",
    ]
    if finding := report.finding():
        lines += [f"> {md(' '.join(finding))}", ""]
    if warnings := report.shown_warnings():
        lines += ["**Warnings**", "", *(f"- {md(w)}" for w in warnings), ""]
    spaces = list(s.spaces)
    if rows := report.rows():
        lines += [*_table(rows, spaces), ""]
    for g in report.grids():
        lines += [f"**{md(g.title)}**", "", "| " + " | ".join(md(c) for c in g.columns) + " |"]
        lines += ["|" + "---|" * len(g.columns), *("| " + " | ".join(md(c) for c in row) + " |" for row in g.rows)]
        lines += ["", md(g.caption), ""] if g.caption else [""]
    lines += [md(t).replace("\n", "  \n") + "\n" for t in report.notes()]
    studies = "; ".join(f"{md(n)}: " + ", ".join(f"`{x}`" for x in sp.optuna_studies) for n, sp in s.spaces.items())
    if studies:
        lines += [f"Spaces and their studies: {studies}.", ""]
    lines += [
        f"Charts: on this study's History page. Full report: `lorasweep report --experiment {name} --out report.html`; "
        f"refresh this note: `lorasweep report --experiment {name} --to-dashboard`.",
        "",
        END,
    ]
    return "\n".join(lines)


def merge_note(existing: str, block: str, study: str = "") -> str:
    """``existing`` with lorasweep's block replaced by ``block`` (appended after the user's text
    when there is none). Raises :class:`NoteConflict` when the markers are not one begin/end pair."""
    lines = existing.split("\n")
    begins = [i for i, x in enumerate(lines) if x.strip() == BEGIN]
    ends = [i for i, x in enumerate(lines) if x.strip() == END]
    if not begins and not ends:
        return f"{existing.rstrip()}\n\n{block}\n" if existing.strip() else f"{block}\n"
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise NoteConflict(
            f"study {study}: its note has {len(begins)} lorasweep begin and {len(ends)} end markers, not one "
            "pair; lorasweep left it unchanged. Restore the markers or delete the broken lorasweep block in "
            "optuna-dashboard, then run lorasweep report --to-dashboard"
        )
    return "\n".join([*lines[: begins[0]], *block.split("\n"), *lines[ends[0] + 1 :]])


# -- publishing -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Published:
    """What :func:`publish` did, per Optuna study name."""

    notes: list[str] = field(default_factory=list)  # notes written (new or changed)
    charts: list[str] = field(default_factory=list)  # studies whose charts were (re)saved
    unchanged: list[str] = field(default_factory=list)  # note and charts already up to date
    skipped: dict[str, str] = field(default_factory=dict)  # study → why nothing was written


def publish(storage: Storage, experiment: ExperimentRecord | str) -> Published:
    """Write (or refresh) lorasweep's note and charts on every Optuna study of ``experiment``.

    The search runner calls this as each study finishes and after the seed re-runs; ``lorasweep
    report --to-dashboard`` calls it for an existing experiment."""
    import optuna
    from optuna_dashboard import get_note, save_note, save_plotly_graph_object

    from lorasweep.analysis.summary import summarize
    from lorasweep.report.sections import Report

    record = storage.experiment(experiment) if isinstance(experiment, str) else storage.experiment(experiment.name)
    report = Report.build(summarize(storage, record))
    charts = report.figures(dashboard_only=True)
    ids: dict[str, int] = {}
    chart_json = []
    for section, fig in charts:
        i = ids[section] = ids.get(section, -1) + 1
        chart_json.append((CHART_ID.format(section=section, i=i), fig))
    digest = hashlib.sha256("".join(i + f.to_json() for i, f in chart_json).encode()).hexdigest()

    ot = optuna_storage(storage)
    out = Published()
    for row in storage.studies(record.id):
        name = row.optuna_study_name
        try:
            study_id = ot.get_study_id_from_name(name)
        except KeyError:  # an ablation arm, or a study whose search never started: no Optuna study
            continue
        owner = ot.get_study_user_attrs(study_id).get("experiment")
        if owner != record.name:
            out.skipped[name] = f"its experiment user attr is {owner!r}, not {record.name!r}"
            log.warning("not writing the lorasweep note on study %s: %s", name, out.skipped[name])
            continue
        study = optuna.load_study(study_name=name, storage=ot)
        current = get_note(study)
        try:
            body = merge_note(current, note_block(report, name, row.space, row.rank), name)
        except NoteConflict as e:
            out.skipped[name] = str(e)
            log.warning("%s", e)
            continue
        changed = False
        if body != current:
            save_note(study, body)  # a new version: an editor open on the old one is told on save
            out.notes.append(name)
            changed = True
        if ot.get_study_system_attrs(study_id).get(CHARTS_DIGEST) != digest:
            for chart_id, fig in chart_json:
                save_plotly_graph_object(study, fig, graph_object_id=chart_id)
            ot.set_study_system_attr(study_id, CHARTS_DIGEST, digest)
            out.charts.append(name)
            changed = True
        if not changed:
            out.unchanged.append(name)
    return out
