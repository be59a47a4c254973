"""``lorasweep compare``: an LR-only search and a LoRA-α search at equal budget, compared."""

from __future__ import annotations

from typing import Any, Literal

import click

from lorasweep.cli.options import SearchArgs, count, search_args
from lorasweep.cli.run import resume as resume_search
from lorasweep.cli.run import run_search
from lorasweep.config import MAX_REPEATS
from lorasweep.errors import ConfigError


def seeds_option(value: str | None) -> int | Literal["auto"] | None:
    """``--seeds N`` or ``--seeds auto``."""
    if value is None or value == "auto":
        return value  # type: ignore[return-value]
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--seeds {value!r}: give a number of seeds (e.g. 10) or auto") from None


@click.command("compare")
@click.option(
    "--seeds",
    default=None,
    metavar="N|auto",
    help="Re-run each space's best configs on N new seeds; auto: add seeds in batches (7, 10, 13, 16, 20) "
    "until the seed verdict decides or 20 is reached. A verdict needs at least 7 seeds.",
)
@click.option("--top-k", type=int, default=None, help="How many best configs per space --seeds re-runs.")
@click.option(
    "--repeats",
    type=int,
    default=None,
    help="Run K independent searches per space and rank (repeat i of every space shares its sampler seed). "
    "With --resume, add repeats to the experiment, also once it is complete.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue experiment --name after its driver died: keep what finished, run the rest of the budget "
    "(the experiment's stored config is used). With --seeds N, also add seed re-runs to a complete experiment.",
)
@click.option(
    "--warm-start",
    default=None,
    metavar="EXPERIMENT",
    help="Evaluate the best configs of this earlier experiment (same database, same spaces) first.",
)
@click.option(
    "--allow-changed-data",
    is_flag=True,
    help="With --resume: continue although the task's data files changed since the experiment ran.",
)
@search_args
def compare(
    args: SearchArgs,
    seeds: str | None,
    top_k: int | None,
    repeats: int | None,
    resume: bool,
    warm_start: str | None,
    allow_changed_data: bool,
) -> None:
    """Run an LR-only search and a LoRA-α search at equal budget and compare them."""
    repeats = count("repeats", repeats, maximum=MAX_REPEATS)
    n_seeds = seeds_option(seeds)
    if resume:  # --seeds N / --repeats K: also once the experiment is complete
        resume_search(
            args,
            extra={"--top-k": top_k, "--warm-start": warm_start},
            seeds=n_seeds if n_seeds == "auto" else count("seeds", n_seeds),
            repeats=repeats,
            allow_changed_data=allow_changed_data,
        )
        return
    if allow_changed_data:
        raise ConfigError("--allow-changed-data goes with --resume (a new experiment fingerprints its data)")
    overrides: dict[str, Any] = {} if repeats is None else {"repeats": repeats}
    if warm_start is not None:
        overrides["warm_start.experiment"] = warm_start
    if n_seeds == "auto":
        overrides["seeds.auto"] = True
    elif count("seeds", n_seeds, minimum=0) is not None:
        overrides["seeds.n"] = n_seeds
    if count("top-k", top_k) is not None:
        overrides["seeds.top_k"] = top_k
    run_search(args, overrides)
