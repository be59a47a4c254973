"""Labels and number formats shared by every report output (terminal, HTML, JSON-free text, the
optuna-dashboard note, chart hovers): one place says that accuracy reads ``1.000``, a learning
rate ``6.1e-3`` and device time ``108.1``.

Each :class:`Quantity` has a Python formatter (:meth:`Quantity.fmt`) and the matching d3-format
string for plotly (``hoverformat`` / ``tickformat``), so a chart's hover shows what the table shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lorasweep.metrics import METRICS, Direction, Metric

#: What a cell shows for a missing number.
MISSING = "—"


def sci(x: float, digits: int = 1) -> str:
    """``6.1e-3``: scientific notation without the padded exponent Python writes (``6.1e-03``);
    what d3's ``.1e`` writes in charts."""
    if x == 0 or not math.isfinite(x):
        return format(x, f".{digits}f") if x == 0 else str(x)
    mantissa, exponent = format(x, f".{digits}e").split("e")
    return f"{mantissa}e{int(exponent)}"


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """A kind of number: its human label, unit and format (a metric's come from its
    :class:`~lorasweep.metrics.Metric`)."""

    label: str  # "Accuracy", "LR", "Device-seconds"
    kind: Literal["fixed", "sci", "general", "int"]
    digits: int
    unit: str = ""
    grouping: bool = False  # thousands separators (12,345.6)

    def fmt(self, x: float | None) -> str:
        if x is None:
            return MISSING
        if not math.isfinite(x):
            return str(x)
        if self.kind == "sci":
            return sci(x, self.digits)
        if self.kind == "int":
            return f"{round(x):,}"
        comma = "," if self.grouping else ""
        code = "f" if self.kind == "fixed" else "g"
        return format(x, f"{comma}.{self.digits}{code}")

    def signed(self, x: float) -> str:
        """``+0.102`` / ``−0.102`` (``0.000`` for none): a difference in this quantity's format."""
        return ("+" if x > 0 else "−" if x < 0 else "") + self.amount(abs(x))

    def amount(self, x: float) -> str:
        """A difference or shortfall in this quantity's format (``0.002`` accuracy); one the format
        would round to zero keeps two significant digits (``0.00031``), so a real difference
        never reads as none."""
        shown = self.fmt(x)
        if x != 0 and math.isfinite(x) and float(shown.replace(",", "")) == 0:
            return format(x, ".2g")
        return shown

    @property
    def d3(self) -> str:
        """The same format for plotly (d3-format)."""
        comma = "," if self.grouping else ""
        code = {"fixed": "f", "sci": "e", "general": "~g", "int": "d"}[self.kind]
        return f"{comma}.{self.digits}{code}" if self.kind != "int" else f"{comma}d"

    @property
    def axis(self) -> str:
        """The axis title: label and unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


LR = Quantity(label="LR", kind="sci", digits=1)
EFFECTIVE_STEP = Quantity(label="Effective step s·LR", kind="sci", digits=1)
ALPHA = Quantity(label="α", kind="general", digits=4)
C = Quantity(label="c", kind="general", digits=4)
SCALING = Quantity(label="s", kind="general", digits=3)
DEVICE_SECONDS = Quantity(label="Device-seconds", kind="fixed", digits=1, grouping=True)
WALL_SECONDS = Quantity(label="Wall seconds", kind="fixed", digits=1, grouping=True)
DRIFT_RATIO = Quantity(label="Drift ratio", kind="general", digits=3)
STEP = Quantity(label="Step", kind="int", digits=0)
COUNT = Quantity(label="Count", kind="int", digits=0)


def metric(name: str) -> Quantity:
    """The quantity of a metric, as its :class:`~lorasweep.metrics.Metric` declares it (label,
    notation, digits); a name no kind registered reads with 4 significant digits."""
    m = METRICS.get(name) if name in METRICS else Metric(name=name, direction=Direction.MAXIMIZE)
    return Quantity(label=m.title, kind=m.notation, digits=m.digits)


def metric_word(name: str) -> str:
    """The metric in running text: ``accuracy``, ``eval loss`` (a declared label that is not
    just the name capitalized, as ``F1`` or ``MAE``, is kept as written)."""
    label = metric(name).label
    return label.lower() if label == name.replace("_", " ").capitalize() else label


def seconds(x: float | None) -> str:
    return DEVICE_SECONDS.fmt(x)


def params(p: dict) -> list[str]:
    """A trial's LoRA setting in two lines: ``r=4 · α=16 (c=8)`` and ``LR=6.1e-3 · s·LR=2.4e-2``."""
    if not p:
        return [MISSING]
    rs = " · rsLoRA" if p.get("use_rslora") else ""
    return [
        f"r={p['r']} · α={ALPHA.fmt(p['alpha'])} (c={C.fmt(p['c'])}){rs}",
        f"LR={LR.fmt(p['lr'])} · s·LR={EFFECTIVE_STEP.fmt(p['effective_step'])}",
    ]


def interval(lo: float, hi: float, q: Quantity) -> str:
    """``2.0e-6–2.0e-2``."""
    return f"{q.fmt(lo)}–{q.fmt(hi)}"


def percent(x: float) -> str:
    return f"{x:.0%}"
