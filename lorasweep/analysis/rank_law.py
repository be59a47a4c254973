"""The rank law: for the space that searches α (preferably at a fixed LR) and ran at two or more
ranks, α*(r) per rank and the fit ``α* = c·r^p`` with OLS t-intervals, next to the usual
reference laws; ranks whose study learned nothing are left out, with the reason.

The sentence (:func:`law_sentence`) says only what the numbers say:

- no interval from zero residual variance (an exact fit) or from two ranks;
- inside/outside with a tolerance (:data:`~lorasweep.analysis.law.P_TOLERANCE`);
- at a fixed LR, s·LR = s·LR(α) is proportional to α/r (α/√r with rsLoRA), so ``α* ∝ r^p`` means the
  best s·LR scales as ``r^(p − p₀)`` with ``p₀`` = 1 (0.5). Under matched ranges the sampler visits
  the same s·LR at every rank; with a grid or a flat optimum every rank then picks the same s·LR
  and ``p = p₀`` by construction: the sentence says "the best s·LR does not change with rank",
  which is neither evidence for nor against √r;
- a law whose bests lie at the edge of the searched range is qualified in the sentence itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lorasweep.analysis.choice import complete_trials, space_configs, space_reason
from lorasweep.analysis.law import P_LINEAR, P_SQRT, P_TOLERANCE, REFERENCE_LAWS, LawFit, fit_power_law
from lorasweep.analysis.learned import study_learned
from lorasweep.analysis.summary import ExperimentSummary, SpaceSummary

#: Trials per rank whose α are averaged into α*(r) (1: the best trial's α).
ALPHA_STAR_TOP_K = 1
#: Two best s·LR values within this relative difference are the same s·LR (the same grid point).
SAME_STEP = 1e-6


def law_space(summary: ExperimentSummary) -> tuple[str, str] | None:
    """The space the rank law is fitted on, and why: decided from the parameters each space's
    configuration searches, never from whether recorded α or c vary (α = 2r varies with the rank
    but only restates its own rule). Candidates search α (``c`` or ``alpha``) and ran at two or
    more ranks; a space with a fixed LR is preferred (α* then means α at that LR), then config
    order. None if no space qualifies."""
    spaces = space_configs(summary)
    candidates = [
        name
        for name, space in spaces.items()
        if space.searches_alpha and len({t.r for t in summary.spaces[name].trials}) >= 2
    ]
    if not candidates:
        return None
    fixed_lr = [n for n in candidates if not spaces[n].searches_lr]
    if fixed_lr:
        name = fixed_lr[0]
        why = f"searches {spaces[name].alpha.param} at a fixed LR"
    else:
        name = candidates[0]
        why = f"searches {spaces[name].alpha.param} (with LR: no space searches alpha at a fixed LR)"
    return name, space_reason(name, why, candidates, "searching alpha over 2+ ranks")


@dataclass(frozen=True, kw_only=True)
class RankLaw:
    space: str
    alpha_star: dict[int, float]  # per rank, from that rank's study alone (the ranks fitted)
    fit: LawFit | None
    reason: str | None = None  # why there is no fit
    at_edge: list[int] = field(default_factory=list)  # ranks whose α* is at the edge of the searched range
    space_reason: str = ""  # why this space (see law_space)
    excluded: dict[int, str] = field(default_factory=dict)  # rank → why its α* is left out of the fit
    learned: dict[int, str] = field(default_factory=dict)  # rank → the learned-anything test's result
    best_step: dict[int, float] = field(default_factory=dict)  # rank → s·LR of the trials behind α*(r)
    #: the exponent at which the best s·LR does not change with rank (1: s = α/r; 0.5: rsLoRA),
    #: when the space holds the LR fixed; None when it searches the LR too
    p_same_step: float | None = None

    @property
    def same_step(self) -> bool:
        """Every fitted rank's best has the same s·LR (a grid point, or a flat optimum under matched ranges)."""
        steps = list(self.best_step.values())
        return len(steps) >= 2 and max(steps) <= min(steps) * (1 + SAME_STEP)

    @property
    def edge_everywhere(self) -> bool:
        """Every fitted rank's α* lies at the edge of the searched range."""
        return bool(self.alpha_star) and set(self.alpha_star) <= set(self.at_edge)

    @property
    def verdict(self) -> str | None:
        """What the fit says, in one sentence consistent with its numbers (None without a fit)."""
        return law_sentence(self) if self.fit is not None else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "space": self.space,
            "space_reason": self.space_reason,
            "alpha_star": {str(r): a for r, a in self.alpha_star.items()},
            "at_edge": self.at_edge,
            "excluded": {str(r): why for r, why in self.excluded.items()},
            "learned": {str(r): why for r, why in self.learned.items()},
        }
        if self.fit is None:
            return {
                **out,
                "c": None,
                "c_ci": None,
                "p": None,
                "p_ci": None,
                "interval_method": None,
                "p_ambiguous": None,
                "note": self.reason,
            }
        return {
            **out,
            **self.fit.as_dict(),
            "p_1_inside": self.fit.contains_p(P_LINEAR),
            "p_0.5_inside": self.fit.contains_p(P_SQRT),
            "p_tolerance": P_TOLERANCE,
            "best_effective_step": {str(r): v for r, v in self.best_step.items()},
            "same_best_step": self.same_step,
            "edge_everywhere": self.edge_everywhere,
            "verdict": self.verdict,
            "references": [law.as_dict() for law in REFERENCE_LAWS],
        }


def _p(value: float) -> str:
    return f"{value:.3f}"


def law_verdict(fit: LawFit) -> str:
    """One line on what the fit alone can tell: nothing (2 ranks, or an exact fit: no interval),
    not p = 0.5 from p = 1 (both inside), or which of the two it holds (with a tolerance)."""
    if fit.exact:
        refs = ((P_LINEAR, "alpha ∝ r"), (P_SQRT, "sqrt(r)"))
        equal = [f"p = {ref:g} ({name})" for ref, name in refs if fit.p_equals(ref)]
        what = f"it is {equal[0]} to within {P_TOLERANCE:g}" if equal else "it is neither p = 0.5 nor p = 1"
        return (
            f"the {fit.n} ranks' alpha* lie exactly on the fit (zero residual variance): the fit is exact and an "
            f"interval is undefined; p = {_p(fit.p)}, {what}, but an exact fit of so few points is no evidence of "
            "how sure that is"
        )
    if not fit.has_interval:
        return (
            f"{fit.n} ranks give a point estimate only, no interval: search 3 ranks or more before "
            "telling p = 0.5 from p = 1"
        )
    if fit.p_ambiguous:
        return (
            "the interval is too wide to tell p = 0.5 (sqrt(r)) from p = 1 (alpha ∝ r): both are inside; "
            "search more ranks"
        )
    return (
        f"p = 1 (alpha = r, 2r) is {'inside' if fit.contains_p(P_LINEAR) else 'outside'} the interval; "
        f"p = 0.5 (rsLoRA, the paper's 256·sqrt(r)) is {'inside' if fit.contains_p(P_SQRT) else 'outside'} "
        f"(to within {P_TOLERANCE:g})"
    )


def law_sentence(law: RankLaw) -> str:
    """:func:`law_verdict`, then what it means for the best s·LR at a fixed LR (a constant best s·LR
    gives p = p₀ by construction) and, when the bests lie at the edge of the searched range, that
    qualification — in the same sentence."""
    fit = law.fit
    if fit is None:
        return law.reason or ""
    out = law_verdict(fit)
    p0 = law.p_same_step
    if p0 is not None and law.same_step:
        step = next(iter(law.best_step.values()))
        out += (
            f"; every rank's best has the same s·LR ({step:.3g}): at a fixed LR that gives p = {p0:g} by "
            "construction, so the law says the best s·LR does not change with rank, which is no evidence for or "
            "against sqrt(r)"
        )
    elif p0 is not None and (fit.p_equals(p0) if fit.p_ci is None else fit.contains_p(p0)):
        out += f"; at a fixed LR, p = {p0:g} means the best s·LR does not change with rank"
    if law.edge_everywhere:
        out += (
            "; every rank's alpha* is at the edge of the searched range: the best may lie beyond it, so the law "
            "describes the range rather than the task (widen the space)"
        )
    elif law.at_edge:
        ranks = ", ".join(f"r={r}" for r in sorted(law.at_edge))
        out += f"; at {ranks} alpha* is at the edge of the searched range: the best may lie beyond it there"
    return out


def rank_law(summary: ExperimentSummary, top_k: int = ALPHA_STAR_TOP_K) -> RankLaw | None:
    """The law on the space :func:`law_space` picks (None if no space searches α over two or more
    ranks). α*(r) comes from rank r's trials alone; a rank whose study learned nothing
    (:func:`~lorasweep.analysis.learned.study_learned`) is left out of the fit, with the reason."""
    chosen = law_space(summary)
    if chosen is None:
        return None
    name, space_reason = chosen
    space = summary.spaces[name]
    task = summary.config.task if summary.config is not None else None
    alpha_star: dict[int, float] = {}
    best_step: dict[int, float] = {}
    excluded: dict[int, str] = {}
    learned: dict[int, str] = {}
    for r in sorted({t.r for t in space.trials}):
        trials = [t for t in space.trials if t.r == r]
        done = complete_trials(trials)
        done = summary.direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
        if not done:
            excluded[r] = "no complete trial"
            continue
        if task is not None:
            check = study_learned(trials, summary.curves, direction=summary.direction, metric=summary.metric, task=task)
            learned[r] = check.reason
            if check.learned is False:
                excluded[r] = f"learned nothing: {check.reason}"
                continue
        top = done[:top_k]
        alpha_star[r] = math.exp(sum(math.log(t.alpha) for t in top) / len(top))
        best_step[r] = math.exp(sum(math.log(t.effective_step) for t in top) / len(top))
    edge = _at_edge(summary, space, alpha_star)
    config = space_configs(summary).get(name)
    p0 = None
    if config is not None and not config.searches_lr:
        p0 = P_SQRT if config.use_rslora else P_LINEAR
    common = {
        "space": name,
        "alpha_star": alpha_star,
        "at_edge": edge,
        "space_reason": space_reason,
        "excluded": excluded,
        "learned": learned,
        "best_step": best_step,
        "p_same_step": p0,
    }
    if len(alpha_star) < 2:
        left = "; ".join(f"r={r}: {why}" for r, why in excluded.items())
        reason = f"fewer than 2 ranks left to fit ({left})" if left else "fewer than 2 ranks have a complete trial"
        return RankLaw(fit=None, reason=reason, **common)
    fit = fit_power_law(list(alpha_star), list(alpha_star.values()))
    return RankLaw(fit=fit, **common)


def _at_edge(summary: ExperimentSummary, space: SpaceSummary, alpha_star: dict[int, float]) -> list[int]:
    """Ranks whose α* lies at the edge of the searched range: there the optimum may lie outside
    it, and the law reflects the range rather than the task."""
    from lorasweep.space.resolve import alpha_at_edge, at_rank

    config = summary.config
    spaces = {s.name: s for s in config.spaces} if config is not None else {}
    if config is None or space.name not in spaces:
        return []
    return [
        r for r, a in alpha_star.items() if alpha_at_edge(at_rank(spaces[space.name], r, config.effective_step), r, a)
    ]
