"""``lorasweep ablation``: α × k against LR × k from one base point, at matched steps and seed."""

from __future__ import annotations

from typing import Any

import click

from lorasweep.cli.options import SearchArgs, count, floats, storage_option
from lorasweep.cli.run import resume as resume_search
from lorasweep.cli.run import run_search
from lorasweep.errors import ConfigError


@click.command("ablation")
@click.option(
    "--config",
    "config",
    default="ablation",
    show_default=True,
    metavar="NAME|PATH",
    help="Experiment YAML with an ablation section (built-in: the synthetic MLP).",
)
@storage_option
@click.option("--name", default=None, metavar="NAME", help="Experiment name (default: config name + time).")
@click.option("--ks", "ks_text", default=None, metavar="K,K,...", help="Multipliers (default: 1,2,4,...,256).")
@click.option("--rank", type=int, default=None, help="LoRA rank of every point.")
@click.option("--alpha", type=float, default=None, help="Base alpha.")
@click.option("--lr", type=float, default=None, help="Base learning rate.")
@click.option("--max-steps", type=int, default=None, help="Steps per point.")
@click.option("--seed", type=int, default=None, help="Seed of every point (data order, LoRA init).")
@click.option("--verbose", is_flag=True, help="Show Ray, Optuna and transformers output.")
@click.option("--resume", is_flag=True, help="Continue ablation --name after its driver died.")
def ablation(
    config: str,
    storage: str,
    name: str | None,
    ks_text: str | None,
    rank: int | None,
    alpha: float | None,
    lr: float | None,
    max_steps: int | None,
    seed: int | None,
    verbose: bool,
    resume: bool,
) -> None:
    """Matched-step ablation: alpha × k vs LR × k from one base point, same seed and steps."""
    args = SearchArgs(
        config=config, storage=storage, name=name, trials=None, max_steps=max_steps, seed=seed, verbose=verbose
    )
    if resume:
        resume_search(args, {"--ks": ks_text, "--rank": rank, "--alpha": alpha, "--lr": lr})
        return
    overrides: dict[str, Any] = {}
    if ks_text is not None:
        overrides["ablation.ks"] = floats("ks", ks_text)
    if count("rank", rank) is not None:
        overrides["ablation.rank"] = rank
    for option, value in (("alpha", alpha), ("lr", lr)):
        if value is not None and not value > 0:
            raise ConfigError(f"--{option} must be above 0, got {value}")
        if value is not None:
            overrides[f"ablation.{option}"] = value
    run_search(args, overrides, ablation=True)
