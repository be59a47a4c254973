"""Did the spaces search the same effective steps? Coverage of s·LR per space and rank, and the
warnings a fair reading of the comparison needs.

Under AdamW the size of a LoRA update is set, to first order, by the effective step s·LR. Two
spaces whose searched ranges reach different s·LR can "win" by their range rather than by their
method, so the report shows each space's covered s·LR interval per rank and says so plainly when:

- the spaces cover different s·LR intervals at a rank;
- a space's best trial lies outside another space's covered interval (the comparison is then
  decided by the ranges);
- a space's best lies at the edge of its own interval (the optimum may lie beyond it);
- a LoRA+ space (``loraplus_lr_ratio``) trains its B matrices at ratio × LR: the s·LR its B
  matrices cover (:func:`~lorasweep.space.resolve.b_coverage`) is shown beside its A range, and
  flagged when it differs from what the other spaces searched;
- the new task head trains at each trial's LR (``training.head_lr: null``), so spaces that search
  the LR differently also train the head differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorasweep.formatting import sci
from lorasweep.space.resolve import EDGE_SHARE, at_rank, b_coverage, coverage
from lorasweep.store import TrialState

if TYPE_CHECKING:
    from lorasweep.analysis.summary import ExperimentSummary

#: Two covered intervals whose bounds differ by less than this share (relative) count as equal.
SAME_BOUND = 0.01


@dataclass(frozen=True, kw_only=True)
class SpaceCoverage:
    """One space's searched s·LR interval and its best trial's s·LR, per rank; ``b_ranges``: the
    s·LR its B matrices cover, for a LoRA+ space (empty otherwise: B trains at the A's s·LR)."""

    space: str
    ranges: dict[int, tuple[float, float]]
    best_step: dict[int, float]
    b_ranges: dict[int, tuple[float, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {str(r): [lo, hi] for r, (lo, hi) in sorted(self.ranges.items())}

    def b_as_dict(self) -> dict[str, Any] | None:
        return {str(r): [lo, hi] for r, (lo, hi) in sorted(self.b_ranges.items())} if self.b_ranges else None


def coverages(summary: ExperimentSummary) -> dict[str, SpaceCoverage]:
    """Every compared space's coverage (from the experiment's config: matched ranges per rank)."""
    config = summary.config
    if config is None:
        return {}
    spaces = {s.name: s for s in config.spaces}
    out: dict[str, SpaceCoverage] = {}
    for name, space_summary in summary.spaces.items():
        if name not in spaces:
            continue
        ranks = sorted({t.r for t in space_summary.trials} | set(config.ranks))
        ranges = {r: coverage(at_rank(spaces[name], r, config.effective_step), r) for r in ranks}
        b_ranges = {
            r: b for r in ranks if (b := b_coverage(at_rank(spaces[name], r, config.effective_step), r)) is not None
        }
        best: dict[int, float] = {}
        best_value: dict[int, float] = {}
        for t in space_summary.trials:
            if t.state != TrialState.COMPLETE or t.final_value is None or not math.isfinite(t.final_value):
                continue
            if t.r not in best_value or summary.direction.better(t.final_value, best_value[t.r]):
                best_value[t.r], best[t.r] = t.final_value, t.effective_step
        out[name] = SpaceCoverage(space=name, ranges=ranges, best_step=best, b_ranges=b_ranges)
    return out


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(abs(x - y) <= SAME_BOUND * max(abs(x), abs(y)) for x, y in zip(a, b, strict=True))


def _inside(value: float, interval: tuple[float, float]) -> bool:
    lo, hi = interval
    return lo * (1 - SAME_BOUND) <= value <= hi * (1 + SAME_BOUND)


def _edge(value: float, interval: tuple[float, float]) -> str | None:
    """Return "bottom" or "top" when ``value`` lies within :data:`EDGE_SHARE` of the log-width of an edge."""
    lo, hi = interval
    if hi <= lo or value <= 0:
        return None
    width = math.log(hi / lo)
    if math.log(value / lo) < EDGE_SHARE * width:
        return "bottom"
    if math.log(hi / value) < EDGE_SHARE * width:
        return "top"
    return None


def _interval(iv: tuple[float, float]) -> str:
    return f"{sci(iv[0])}–{sci(iv[1])}"


def coverage_warnings(summary: ExperimentSummary) -> list[dict[str, str]]:
    """The report's warnings about fairness, as ``{"code", "message"}``: ``unequal_coverage``,
    ``loraplus_coverage``, ``decided_by_ranges``, ``best_at_edge``, ``head_lr_per_trial``."""
    cov = coverages(summary)
    out: list[dict[str, str]] = []

    def warn(code: str, message: str) -> None:
        out.append({"code": code, "message": message})

    names = list(cov)
    ranks = sorted({r for c in cov.values() for r in c.ranges})
    for r in ranks:
        present = [n for n in names if r in cov[n].ranges]
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                if not _same(cov[a].ranges[r], cov[b].ranges[r]):
                    warn(
                        "unequal_coverage",
                        f"At r={r}, {a} and {b} searched different effective steps s·LR "
                        f"({_interval(cov[a].ranges[r])} vs {_interval(cov[b].ranges[r])}): the ranges, not only "
                        "the methods, shape the result; make both spaces 'matched' to one effective_step range.",
                    )
        for a in present:
            if (b_range := cov[a].b_ranges.get(r)) is None:
                continue
            others = [b for b in present if b != a and not _same(b_range, cov[b].b_ranges.get(r, cov[b].ranges[r]))]
            if others:
                theirs = "; ".join(f"{b}: {_interval(cov[b].b_ranges.get(r, cov[b].ranges[r]))}" for b in others)
                warn(
                    "loraplus_coverage",
                    f"At r={r}, {a}'s B matrices train at LoRA+ ratio × LR, so they cover s·LR {_interval(b_range)} "
                    f"(its A matrices {_interval(cov[a].ranges[r])}), unlike the other spaces ({theirs}): the "
                    "comparison mixes LoRA+ with a different s·LR range; compare at equal coverage (fix the ratio "
                    "or narrow effective_step for this space).",
                )
        for a in present:
            if (step := cov[a].best_step.get(r)) is None:
                continue
            for b in present:
                if b != a and not _inside(step, cov[b].ranges[r]):
                    warn(
                        "decided_by_ranges",
                        f"At r={r}, {a}'s best (s·LR {sci(step)}) lies outside the s·LR that {b} searched "
                        f"({_interval(cov[b].ranges[r])}): {b} could not reach it, so this comparison is decided "
                        "by the ranges, not the methods.",
                    )
            if (edge := _edge(step, cov[a].ranges[r])) is not None:
                warn(
                    "best_at_edge",
                    f"At r={r}, {a}'s best (s·LR {sci(step)}) sits at the {edge} edge of the s·LR it searched "
                    f"({_interval(cov[a].ranges[r])}): the optimum may lie beyond it; widen effective_step.",
                )
    config = summary.config
    if config is not None and config.training.head_lr is None and len(names) > 1:
        warn(
            "head_lr_per_trial",
            "training.head_lr is null, so the new task head trained at each trial's LR, which differs between "
            "the spaces: they differ in more than what they search; set head_lr (default 1e-3).",
        )
    return out
