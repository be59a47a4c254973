"""Plan builders: what a run does, decided from the experiment before anything runs. Each hands
the runner (:func:`lorasweep.search.runner.run_plan`) a finished :class:`RunPlan`:

- :func:`compare_plan`: one search per (space, rank) at equal budget, then the seed re-runs;
- :func:`ablation_plan`: the ablation's two arms, each a study of fixed points;
- :func:`resume_plan`: a stored experiment's own plan again, to run what it has left.

Builders read (the stored config, for a resume) and never write.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError
from lorasweep.search.ablation import Arm, arm_of, arm_points, arm_space
from lorasweep.search.guard import check_resume
from lorasweep.search.plan import RunPlan, StudyPlan, optuna_study_name
from lorasweep.search.repeats import repeats_to_run, search_plans
from lorasweep.store import ExperimentStatus, Storage, TrialKind


def compare_plan(exp: ExperimentConfig, name: str) -> RunPlan:
    """One study per (space, rank) and repeat, each space as searched at its rank (matched ranges
    made explicit), each with the experiment's trial budget. Each rank's and each repeat's sampler
    has its own seed (the first one's is the experiment's), shared by every space of that rank and
    repeat, so ranks do not all try the same candidates and repeat i of one space pairs with repeat
    i of the other (see :mod:`lorasweep.search.repeats`)."""
    studies = tuple(search_plans(exp, name))
    return RunPlan(
        exp=exp,
        name=name,
        studies=studies,
        warm_start=exp.warm_start,
        seeds=exp.seeds if exp.seeds.n or exp.seeds.auto else None,
    )


def ablation_plan(exp: ExperimentConfig, name: str) -> RunPlan:
    """The two arms of ``lorasweep ablation`` as studies of fixed points (no Optuna study)."""
    abl = exp.ablation
    if abl is None:
        raise LorasweepError("the experiment has no ablation section; add ablation: {rank, alpha, lr, ks}")
    studies = tuple(
        StudyPlan(
            space=arm_space(abl, arm),
            rank=abl.rank,
            study_name=optuna_study_name(name, arm_space(abl, arm).name, abl.rank),
            kind=TrialKind.ABLATION,
            points=tuple(arm_points(abl, arm, exp.seed)),
        )
        for arm in Arm
    )
    return RunPlan(exp=exp, name=name, studies=studies)


def resume_plan(
    storage: Storage,
    name: str,
    seeds: int | Literal["auto"] | None = None,
    repeats: int | None = None,
    *,
    allow_changed_data: bool = False,
) -> RunPlan:
    """The plan of stored experiment ``name`` (compare or ablation, from its stored config), to
    continue it; an error if there is nothing to resume. ``seeds`` (``compare --resume --seeds
    N``): re-run the best configs on N seeds, which a complete experiment may also do (re-runs it
    has are kept; the looks it recorded stay charged to the verdict); ``"auto"``: add seeds in
    batches at the verdict's planned looks until it is settled. ``repeats`` (``compare --resume
    --repeats K``): run K repeated searches per space and rank, adding those it lacks, also to a
    complete experiment. The task's data files
    must be the ones the experiment trained on (``allow_changed_data``: go on although they changed)."""
    storage.check_schema()
    record = storage.experiment(name)
    if record.status == ExperimentStatus.COMPLETE and seeds is None and repeats is None:
        raise LorasweepError(
            f"experiment '{name}' is complete; nothing to resume (run a new one with another --name, "
            "or add seed re-runs with --resume --seeds N, or repeated searches with --resume --repeats K)"
        )
    exp = ExperimentConfig.model_validate(record.config)
    check_resume(storage, record, exp, allow_changed_data)
    studies = storage.studies(record.id)
    ablation = exp.ablation is not None and (not exp.spaces or any(arm_of(s.space) for s in studies))
    if ablation:
        if seeds is not None:
            raise LorasweepError(f"--seeds: experiment '{name}' is an ablation; it has no best configs to re-run")
        if repeats is not None:
            raise LorasweepError(f"--repeats: experiment '{name}' is an ablation; it has no searches to repeat")
        return dataclasses.replace(ablation_plan(exp, name), resume=True)
    exp = exp.model_copy(update={"repeats": repeats_to_run(exp, studies, repeats, name)})
    if seeds == "auto":  # batches at the verdict's planned looks, after the seeds it has
        exp = exp.model_copy(update={"seeds": exp.seeds.model_copy(update={"auto": True})})
    elif seeds is not None:
        exp = exp.model_copy(update={"seeds": exp.seeds.model_copy(update={"n": seeds, "auto": False})})
    return dataclasses.replace(compare_plan(exp, name), resume=True)
