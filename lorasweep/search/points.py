"""The configurations a study evaluates besides what its sampler proposes: ``warm_start``'s best
configs of an earlier experiment (evaluated first), and the seed re-runs of ``compare --seeds``."""

from __future__ import annotations

import json
import math
from typing import Any

from lorasweep.config import Direction, SeedsConfig, WarmStartConfig
from lorasweep.search.plan import StudyPlan
from lorasweep.search.ray_adapter.keys import SEED
from lorasweep.space.resolve import contains, distributions
from lorasweep.store import Storage, TrialKind, TrialRecord, TrialState


def warm_points(
    storage: Storage, warm_start: WarmStartConfig, direction: Direction, p: StudyPlan
) -> list[dict[str, Any]]:
    """``warm_start``: the best complete trials of the earlier experiment's study of the same
    space (the same rank, else the nearest), as values of this space's searched parameters;
    points outside this space's ranges are left out."""
    record = storage.experiment(warm_start.experiment)
    studies = [s for s in storage.studies(record.id) if s.space == p.space.name]
    if not studies:
        return []
    study = min(studies, key=lambda s: (abs(math.log(s.rank / p.rank)), s.rank))
    done = [
        t
        for t in storage.trials(record.id)
        if t.study_id == study.id and t.kind == TrialKind.SEARCH and t.state == TrialState.COMPLETE and t.final_value
    ]
    done = direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
    dists = distributions(p.space)
    points = []
    for t in done[: warm_start.top_k]:
        point = {k: float(t.params[k]) for k in dists if k in t.params}
        if len(point) == len(dists) and all(contains(d, point[k]) for k, d in dists.items()):
            points.append(point)
    return points


def seed_points(
    seeds: SeedsConfig, base_seed: int, direction: Direction, trials: list[TrialRecord]
) -> list[dict[str, Any]]:
    """The re-runs of ``compare --seeds``: the study's ``top_k`` complete search trials (by final
    value), each on ``n`` seeds after the experiment's (``base_seed`` + 1, + 2, ...)."""
    done = [t for t in trials if t.kind == TrialKind.SEARCH and t.state == TrialState.COMPLETE and t.final_value]
    done = direction.sorted(done, key=lambda t: t.final_value)  # type: ignore[arg-type,return-value]
    new_seeds = [base_seed + 1 + i for i in range(seeds.n)]
    return [{**t.params, SEED: s} for t in done[: seeds.top_k] for s in new_seeds]


def point_key(point: dict[str, Any]) -> str:
    """A point's identity (rounded values, seed included): which points of a study already ran."""
    return json.dumps({k: round(float(v), 12) for k, v in point.items()}, sort_keys=True)
