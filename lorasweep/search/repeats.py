"""Repeated searches (``compare --repeats K``): K independent searches per space and rank.

A single search mixes the method with that search's luck; HPO benchmarks repeat the whole search
over sampler seeds and compare the distributions. Here:

- repeat ``i`` of every space (at one rank) has the same sampler seed (:func:`sampler_seed`), so
  repeat ``i`` of ``lr_only`` pairs with repeat ``i`` of ``lora_alpha``: the same seed, the same
  matched s·LR range, the same load;
- every repeat is one study (one Optuna study, one row tagged with its repeat), and all of them
  run in the one Tune run, interleaved like any other studies;
- repeat 0 is the search a single-repeat experiment runs (same study name, same seed), so
  ``compare --resume --repeats K`` on a finished experiment adds repeats 1..K-1 and keeps the
  pairing.

Plain data only: the runner turns these plans into studies, the Ray adapter runs them.
"""

from __future__ import annotations

from lorasweep.config import MAX_REPEATS, ExperimentConfig
from lorasweep.errors import LorasweepError
from lorasweep.search.plan import StudyPlan, optuna_study_name
from lorasweep.space.resolve import at_rank
from lorasweep.store import StudyRecord

__all__ = ["REPEAT_SEED_STRIDE", "repeats_to_run", "sampler_seed", "search_plans", "stored_repeats"]

#: Sampler seeds of successive repeats are this far apart (ranks are 1000 apart; a resumed study
#: adds its number of trials), so no two repeats or ranks share a seed.
REPEAT_SEED_STRIDE = 1_000_003


def sampler_seed(exp: ExperimentConfig, rank: int, repeat: int, trials_so_far: int = 0) -> int:
    """The sampler seed of a search study: the experiment's seed for the first rank's first
    repeat; each rank, and each repeat, its own. Every space at (rank, repeat) gets the same one,
    which is what pairs repeat ``i`` of one space with repeat ``i`` of another. A resumed study is
    seeded past the ``trials_so_far`` it has."""
    return exp.seed + 1000 * exp.ranks.index(rank) + REPEAT_SEED_STRIDE * repeat + trials_so_far


def search_plans(exp: ExperimentConfig, name: str, repeats: int | None = None) -> list[StudyPlan]:
    """One study per (rank, repeat, space), each space as searched at its rank (matched ranges
    made explicit). The order (ranks, then repeats, then spaces) is the interleaving's tie order:
    the spaces of one repeat run side by side, repeat after repeat."""
    k = exp.repeats if repeats is None else repeats
    return [
        StudyPlan(
            space=at_rank(s, r, exp.effective_step),
            rank=r,
            study_name=optuna_study_name(name, s.name, r, i),
            trials=exp.budget.trials,
            sampler_seed=sampler_seed(exp, r, i),
            repeat=i,
        )
        for r in exp.ranks
        for i in range(k)
        for s in exp.spaces
    ]


def stored_repeats(studies: list[StudyRecord]) -> int:
    """How many repeats an experiment's studies hold (1 for an experiment with none stored)."""
    return max((s.repeat for s in studies), default=0) + 1


def repeats_to_run(exp: ExperimentConfig, studies: list[StudyRecord], requested: int | None, name: str) -> int:
    """How many repeats a resumed experiment runs: ``requested`` (``--resume --repeats K``), else
    as many as its config or its studies say. Fewer than it has is an error (repeats are never
    dropped)."""
    have = max(exp.repeats, stored_repeats(studies))
    if requested is None:
        return have
    if not 1 <= requested <= MAX_REPEATS:
        raise LorasweepError(f"--repeats must be between 1 and {MAX_REPEATS}, got {requested}")
    if requested < have:
        raise LorasweepError(
            f"--repeats {requested}: experiment '{name}' has {have} repeats already; "
            f"give --repeats {have} or more (repeats are added, never dropped)"
        )
    return requested
