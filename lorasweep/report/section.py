"""The report-section seam (the one not in :mod:`lorasweep.api`: its hooks take the experiment
summary of :mod:`lorasweep.analysis`, above the training seams there). A :class:`Section`
computes one small typed record from an experiment's summary and hands that same record to every
output (terminal and HTML table, ``report --json``, optuna-dashboard notes and charts), as
optuna's ``visualization/_*.py`` compute a record first and draw it second. :func:`register` adds
one to the report.

A new chart is one module in ``lorasweep/report/sections/`` (every module there is imported when
the report is built) defining a ``@register``-ed subclass; a section outside lorasweep registers
when its module is imported. The numbers come from :mod:`lorasweep.analysis`; labels and number
formats from :mod:`lorasweep.formatting`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from lorasweep import formatting as fmt
from lorasweep.registry import Registry

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from lorasweep.analysis.summary import ExperimentSummary

__all__ = ["SECTIONS", "Grid", "Row", "Section", "register"]

D = TypeVar("D")


@dataclass(frozen=True, kw_only=True)
class Row:
    """One row of the side-by-side table: a label and, per space, the lines of its cell."""

    label: str
    cells: dict[str, list[str]]

    def cell(self, space: str) -> list[str]:
        """The lines of ``space``'s cell (the missing mark when it has none)."""
        return self.cells.get(space) or [fmt.MISSING]


@dataclass(frozen=True, kw_only=True)
class Grid:
    """A table of a section's own: column heads, rows of cells, a caption."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


class Section(ABC, Generic[D]):
    """One part of the report. Subclasses set ``name``, ``title`` and ``order`` and implement
    :meth:`compute`; every output hook is optional (default: contributes nothing), and each gets
    the summary and the record :meth:`compute` returned."""

    #: unique name (``report --section NAME``, the JSON owner in errors)
    name: ClassVar[str]
    #: heading in HTML and notes
    title: ClassVar[str]
    #: position in the report (ascending; ties by name)
    order: ClassVar[int]
    #: attach its figures to every study of the experiment in optuna-dashboard
    dashboard: ClassVar[bool] = False

    @abstractmethod
    def compute(self, summary: ExperimentSummary) -> D | None:
        """The section's record, or None when the experiment has no data for it (the section is
        then left out of every output)."""

    def json(self, summary: ExperimentSummary, data: D) -> dict[str, Any]:
        """Its keys of ``lorasweep report --json``. Merged with the other sections': a key two
        sections set is an error, so each key has one owner; ``spaces`` holds one dict per space
        that several sections fill."""
        return {}

    def warnings(self, summary: ExperimentSummary, data: D) -> list[dict[str, str]]:
        """``{"code", "message"}`` warnings, shown under the opening sentences and in the JSON."""
        return []

    def rows(self, summary: ExperimentSummary, data: D) -> list[Row]:
        """Rows of the side-by-side table (terminal, HTML and the optuna-dashboard note show the
        same rows)."""
        return []

    def text(self, summary: ExperimentSummary, data: D) -> list[str]:
        """Sentences under the table (terminal) or under the section's heading (HTML, note)."""
        return []

    def figures(self, summary: ExperimentSummary, data: D) -> list[go.Figure]:
        """Plotly figures (HTML; with :attr:`dashboard` also attached to the studies in
        optuna-dashboard)."""
        return []

    def grids(self, summary: ExperimentSummary, data: D) -> list[Grid]:
        """Tables of its own (the ablation's one row per k)."""
        return []


#: One instance of every registered section, by name.
SECTIONS: Registry[Section[Any]] = Registry("report section")

S = TypeVar("S", bound=type[Section[Any]])


def register(cls: S) -> S:
    """Class decorator: add one instance of ``cls`` to the report (its ``name`` must be new)."""
    if cls.name in SECTIONS:
        raise ValueError(f"report section {cls.name!r} is registered twice ({SECTIONS.get(cls.name)!r} and {cls!r})")
    SECTIONS.register(cls.name, cls())
    return cls
