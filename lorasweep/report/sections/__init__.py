"""Report sections: one module per section, each registering one
:class:`~lorasweep.report.section.Section` (the seam, documented there).

A section computes one small typed record from the experiment's summary (the numbers come from
``lorasweep/analysis``, one module per analysis) and hands that same record to every output,
as optuna's ``visualization/_*.py`` compute a record first and draw it second:

- :meth:`Section.json`: its keys of ``lorasweep report --json`` (merged: a key two sections claim
  is an error, so each key has one owner; ``spaces`` holds one dict per space that several
  sections fill);
- :meth:`Section.warnings`: ``{"code", "message"}`` warnings;
- :meth:`Section.rows`: rows of the side-by-side table (the terminal table, the HTML table and
  the optuna-dashboard note show the same rows);
- :meth:`Section.text`: sentences under the table (terminal) or under its heading (HTML, note);
- :meth:`Section.figures`: plotly figures (HTML; with ``dashboard = True`` also attached to the
  studies in optuna-dashboard);
- :meth:`Section.grids`: tables of its own (the ablation's one row per k).

HTML, JSON, terminal and dashboard output loop over :func:`sections` through :class:`Report`,
which computes each record once. A new chart is one new module in this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorasweep import formatting as fmt
from lorasweep.report.section import SECTIONS, Grid, Row, Section, register

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from lorasweep.analysis.summary import ExperimentSummary

__all__ = ["STATED_BY_FINDING", "Grid", "Part", "Report", "Row", "Section", "register", "section", "sections"]

#: Warning codes the opening sentences already state (no need to list them again under them).
STATED_BY_FINDING = frozenset({"too_few_seeds", "verdict_withheld"})

_loaded = False


def _load() -> None:
    """Import every module of this package once: each registers its section."""
    global _loaded
    if _loaded:
        return
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def sections() -> list[Section[Any]]:
    """Every registered section, in report order."""
    _load()
    return sorted((SECTIONS.get(n) for n in SECTIONS), key=lambda s: (s.order, s.name))


def section(name: str) -> Section[Any]:
    """The section called ``name``; an unknown name raises an error that lists the valid ones."""
    _load()
    if name not in SECTIONS:
        raise KeyError(f"no report section {name!r}; sections: {', '.join(s.name for s in sections())}")
    return SECTIONS.get(name)


def _merge(into: dict[str, Any], part: dict[str, Any], owner: str, path: str = "") -> None:
    """Merge ``part`` into ``into``: dicts recursively, lists extended; a value two sections set
    is a programming error (each key has one owner)."""
    for key, value in part.items():
        where = f"{path}.{key}" if path else key
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, owner, where)
        elif isinstance(into[key], list) and isinstance(value, list):
            into[key].extend(value)
        else:
            raise ValueError(f"report section {owner!r} sets {where!r}, which another section set already")


@dataclass(frozen=True, kw_only=True)
class Part:
    section: Section[Any]
    data: Any


@dataclass(frozen=True, kw_only=True)
class Report:
    """The sections that have data for one experiment, each record computed once."""

    summary: ExperimentSummary
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def build(cls, summary: ExperimentSummary, only: set[str] | None = None) -> Report:
        parts = []
        for s in sections():
            if only is not None and s.name not in only:
                continue
            data = s.compute(summary)
            if data is not None:
                parts.append(Part(section=s, data=data))
        return cls(summary=summary, parts=parts)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.section.name == name), None)

    def json(self) -> dict[str, Any]:
        s = self.summary
        doc: dict[str, Any] = {
            "experiment": s.experiment.name,
            "status": s.experiment.status.value,
            "metric": s.metric,
            "direction": s.direction.value,
            "target": {"within": s.within, "value": s.target, "source": s.target_source},
            "spaces": {name: {} for name in s.spaces},
            "warnings": [],
        }
        for p in self.parts:
            _merge(doc, p.section.json(s, p.data), p.section.name)
            _merge(doc, {"warnings": p.section.warnings(s, p.data)}, p.section.name)
        return doc

    def warnings(self) -> list[dict[str, str]]:
        return [w for p in self.parts for w in p.section.warnings(self.summary, p.data)]

    def shown_warnings(self) -> list[str]:
        """The warnings a reader sees under the opening sentences (those the sentences state left out)."""
        return [w["message"] for w in self.warnings() if w["code"] not in STATED_BY_FINDING]

    def finding(self) -> list[str]:
        """The opening sentences."""
        p = self.part("finding")
        return p.section.text(self.summary, p.data) if p is not None else []

    def rows(self) -> list[Row]:
        return [r for p in self.parts for r in p.section.rows(self.summary, p.data)]

    def notes(self) -> list[str]:
        """The sections' sentences, finding excluded (it opens the report)."""
        return [t for p in self.parts if p.section.name != "finding" for t in p.section.text(self.summary, p.data)]

    def grids(self) -> list[Grid]:
        return [g for p in self.parts for g in p.section.grids(self.summary, p.data)]

    def figures(self, dashboard_only: bool = False) -> list[tuple[str, go.Figure]]:
        """(section name, figure) for every figure, in report order."""
        return [
            (p.section.name, f)
            for p in self.parts
            if not dashboard_only or p.section.dashboard
            for f in p.section.figures(self.summary, p.data)
        ]

    @property
    def title(self) -> str:
        s = self.summary
        return f"{s.experiment.name}: {fmt.metric_word(s.metric)} ({s.direction.value})"
