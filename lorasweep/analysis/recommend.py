"""What earlier studies say about α for a new rank: ``lorasweep recommend``.

Every stored search study whose space searches α (``c`` or ``alpha``) is a candidate point: the
rank and α* (the α of its best complete trial), with that trial's LR. Only points that are
independent evidence about the same quantity are pooled; the others are left out, each with its
reason (:class:`LeftOut`):

- **other scaling** — α* means the LoRA scaling ``s = α/r`` (PEFT's default) or ``s = α/√r``
  (rsLoRA): the same α is a different update in the two, so only studies of the scaling asked
  for (``use_rslora``) are pooled.
- **learned nothing** — the study's best shows no learning
  (:func:`~lorasweep.analysis.learned.study_learned`): its α* is the α of the luckiest noise.
- **repeated** — the same search run again (same task, model, rank, seed, space and searched
  ranges: e.g. a re-run or a warm-started copy of an experiment) draws the same trials and the
  same α*; it is counted once, keeping the study with the most complete trials (the first stored
  on a tie).

With three or more points over two or more distinct ranks the law ``α* = c·r^p`` is fitted
(:func:`~lorasweep.analysis.law.fit_power_law`) and evaluated at the asked rank with an OLS
prediction interval; with two points, a point estimate and no interval; with one rank, that rank's
α* if it is the rank asked. The LR proposed is the median LR of the pooled points (in the α
spaces it is usually fixed).
"""

from __future__ import annotations

import enum
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from lorasweep.analysis.law import LawFit, fit_power_law
from lorasweep.analysis.learned import study_learned
from lorasweep.config import ExperimentConfig, SpaceConfig
from lorasweep.search.ablation import arm_of
from lorasweep.space.resolve import alpha_at_edge, distributions
from lorasweep.store import Storage, TrialKind, TrialState


class LeftOut(enum.StrEnum):
    """Why a study's α* is not pooled into the recommendation."""

    OTHER_SCALING = "other_scaling"
    LEARNED_NOTHING = "learned_nothing"
    REPEATED = "repeated"


def scaling_name(use_rslora: bool) -> str:
    return "rsLoRA s = alpha/sqrt(r)" if use_rslora else "s = alpha/r"


@dataclass(frozen=True, kw_only=True)
class Source:
    experiment: str
    study: str
    task: str
    rank: int
    alpha_star: float
    lr: float
    value: float
    at_edge: bool  # α* at the edge of the range searched: the optimum may lie beyond it
    space: str = ""
    seed: int = 0
    use_rslora: bool = False
    n_complete: int = 0  # complete trials the best was chosen from
    learned: bool | None = None  # study_learned's answer (None: not testable)
    learned_reason: str = ""
    search_key: str = field(default="", repr=False)  # equal keys: the same search (see _search_key)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["search_key"]
        return out


@dataclass(frozen=True, kw_only=True)
class Excluded:
    source: Source
    reason: LeftOut
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.source.as_dict(), "reason": self.reason.value, "detail": self.detail}


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    rank: int
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    lr: float | None
    fit: LawFit | None
    sources: list[Source] = field(default_factory=list)  # the pooled points
    reason: str | None = None  # why there is no recommendation, or no interval
    excluded: list[Excluded] = field(default_factory=list)  # the points left out, each with its reason
    use_rslora: bool = False  # the scaling the recommended α is for

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "scaling": scaling_name(self.use_rslora),
            "use_rslora": self.use_rslora,
            "alpha": self.alpha,
            "alpha_ci": list(self.alpha_ci) if self.alpha_ci else None,
            "lr": self.lr,
            "law": self.fit.as_dict() if self.fit else None,
            "sources": [s.as_dict() for s in self.sources],
            "excluded": [e.as_dict() for e in self.excluded],
            "reason": self.reason,
        }


def _alpha_space(space_config: dict[str, Any]) -> SpaceConfig | None:
    """The study's space if it searches α (c or α), else None."""
    try:
        space = SpaceConfig.model_validate(space_config)
    except ValueError:
        return None
    return space if space.searches_alpha and space.matched is None else None


def _search_key(config: ExperimentConfig, rank: int, space: SpaceConfig) -> str:
    """What makes two studies the same search: task, model, rank, seed, and the space with its
    searched ranges (its description aside). The budget is left out on purpose: with the same
    sampler seed a longer search starts with the shorter one's trials."""
    model = {"name_or_path": config.model.name_or_path, "config": config.model.config}
    ranges = {k: str(v) for k, v in sorted(distributions(space).items())}
    space_json = space.model_dump(mode="json", exclude={"description"})
    return json.dumps(
        [config.task.model_dump(mode="json"), model, rank, config.seed, space_json, ranges], sort_keys=True
    )


def sources(storage: Storage, task: str | None = None) -> list[Source]:
    """One candidate point per stored search study that searched α (of task ``task`` when given),
    with whether it learned (:func:`~lorasweep.analysis.learned.study_learned`)."""
    out = []
    for name in storage.experiment_names():
        record = storage.experiment(name)
        config = ExperimentConfig.model_validate(record.config)
        if task is not None and config.task.name != task:
            continue
        trials = [t for t in storage.trials(record.id) if t.kind == TrialKind.SEARCH]
        curves = None
        for study in storage.studies(record.id):
            space = _alpha_space(study.space_config)
            if arm_of(study.space) is not None or space is None:
                continue
            mine = [t for t in trials if t.study_id == study.id]
            done = [t for t in mine if t.state == TrialState.COMPLETE and t.final_value is not None]
            if not done:
                continue
            best = done[0]
            for t in done[1:]:
                if study.direction.better(t.final_value, best.final_value):  # type: ignore[arg-type]
                    best = t
            if curves is None:
                curves = storage.curves(record.id)
            check = study_learned(mine, curves, direction=study.direction, metric=study.metric, task=config.task)
            out.append(
                Source(
                    experiment=name,
                    study=study.optuna_study_name,
                    task=config.task.name,
                    rank=study.rank,
                    alpha_star=best.alpha,
                    lr=best.lr,
                    value=float(best.final_value),  # type: ignore[arg-type]
                    at_edge=alpha_at_edge(space, study.rank, best.alpha),
                    space=study.space,
                    seed=config.seed,
                    use_rslora=space.use_rslora,
                    n_complete=len(done),
                    learned=check.learned,
                    learned_reason=check.reason,
                    search_key=_search_key(config, study.rank, space),
                )
            )
    return out


def pool(points: list[Source], use_rslora: bool = False) -> tuple[list[Source], list[Excluded]]:
    """The points to pool for scaling ``use_rslora``, and the ones left out with their reasons."""
    excluded: list[Excluded] = []
    kept: list[Source] = []
    for s in points:
        if s.use_rslora != use_rslora:
            flag = "with --rslora" if s.use_rslora else "without --rslora"
            excluded.append(
                Excluded(
                    source=s,
                    reason=LeftOut.OTHER_SCALING,
                    detail=f"searched with {scaling_name(s.use_rslora)}; the recommendation is for "
                    f"{scaling_name(use_rslora)}, where the same alpha is a different update (run {flag} for it)",
                )
            )
        elif s.learned is False:
            excluded.append(Excluded(source=s, reason=LeftOut.LEARNED_NOTHING, detail=s.learned_reason))
        else:
            kept.append(s)
    first: dict[str, Source] = {}
    for s in kept:  # the study with the most complete trials stands for its search; the first on a tie
        if s.search_key not in first or s.n_complete > first[s.search_key].n_complete:
            first[s.search_key] = s
    used = []
    for s in kept:
        chosen = first[s.search_key]
        if chosen is s:
            used.append(s)
        else:
            excluded.append(
                Excluded(
                    source=s,
                    reason=LeftOut.REPEATED,
                    detail=f"repeats study {chosen.study} of experiment {chosen.experiment} (same task, model, rank, "
                    "seed, space and searched ranges): counted once",
                )
            )
    return used, excluded


def recommend(storage: Storage, rank: int, task: str | None = None, use_rslora: bool = False) -> Recommendation:
    """α for ``rank`` under the scaling ``use_rslora``, from the pooled α* of stored studies."""
    used, excluded = pool(sources(storage, task), use_rslora)
    about = f" for task {task}" if task else ""

    def rec(
        *,
        alpha: float | None = None,
        ci: tuple[float, float] | None = None,
        lr: float | None = None,
        fit: LawFit | None = None,
        why: str | None = None,
    ) -> Recommendation:
        return Recommendation(
            rank=rank,
            alpha=alpha,
            alpha_ci=ci,
            lr=lr,
            fit=fit,
            sources=used,
            reason=why,
            excluded=excluded,
            use_rslora=use_rslora,
        )

    if not used:
        if excluded:
            return rec(why=f"no stored study{about} is left to pool ({len(excluded)} left out)")
        return rec(why=f"no stored study{about} searched alpha; run lorasweep rank-law first")
    lr = statistics.median(s.lr for s in used)
    ranks = sorted({s.rank for s in used})
    if len(ranks) < 2:
        same = [s for s in used if s.rank == rank]
        reason = (
            f"alpha* is known at rank {ranks[0]} only ({len(used)} stud{'y' if len(used) == 1 else 'ies'}); "
            "a law needs two ranks or more: run lorasweep rank-law"
        )
        if same:  # the asked rank itself was searched: its α* is still the best guess
            alpha = math.exp(statistics.fmean(math.log(s.alpha_star) for s in same))
            return rec(alpha=alpha, lr=lr, why=reason)
        return rec(lr=lr, why=reason)
    fit = fit_power_law([s.rank for s in used], [s.alpha_star for s in used])
    if not fit.has_interval:
        why = "lie exactly on the fit (no interval is defined)" if fit.exact else "give a point estimate, no interval"
        return rec(alpha=fit.predict(rank), lr=lr, fit=fit, why=f"{fit.n} studies {why}")
    return rec(alpha=fit.predict(rank), ci=fit.predict_ci(rank), lr=lr, fit=fit)
