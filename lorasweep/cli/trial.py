"""``lorasweep trial``: one trial without Ray, its reports printed as JSON lines."""

from __future__ import annotations

import json

import click

from lorasweep.cli.console import clip, json_line, quiet
from lorasweep.config import MAX_SEED
from lorasweep.errors import ConfigError


@click.command("trial")
@click.option("--config", "config", default="default", show_default=True, metavar="NAME|PATH")
@click.option("--space", default="lr_only", show_default=True, metavar="NAME|PATH")
@click.option("--rank", type=click.IntRange(min=1), default=None, help="LoRA rank (default: the first of ranks).")
@click.option("--params", default="{}", metavar="JSON", help="Sampled values, e.g. '{\"lr\": 0.003}'.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=None)
@click.option("--test", is_flag=True, help="Also evaluate the task's test split at the end (as seed re-runs do).")
@click.option("--verbose", is_flag=True)
def trial(config: str, space: str, rank: int | None, params: str, seed: int | None, test: bool, verbose: bool) -> None:
    """Run one trial without Ray and print its reports as JSON lines."""
    from lorasweep.config import load_experiment
    from lorasweep.space.resolve import at_rank, contains, distributions, load_space, resolve
    from lorasweep.train.train import run_trial

    exp = load_experiment(config)
    rank = rank or exp.ranks[0]
    sp = at_rank(load_space(space), rank, exp.effective_step)
    try:
        sampled = json.loads(params)
    except ValueError as e:  # JSONDecodeError, or an integer of more digits than Python converts
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e).split(";")[0]
        raise ConfigError(f"--params is not JSON lorasweep can read ({reason}); write e.g. '{{\"lr\": 0.003}}'") from e
    dists = distributions(sp)
    if not isinstance(sampled, dict) or set(sampled) != set(dists):
        raise ConfigError(f"--params for space {sp.name} needs exactly the keys {sorted(dists)}; got {clip(params)}")
    for key, dist in dists.items():
        value = sampled[key]
        try:
            inside = not isinstance(value, bool) and isinstance(value, int | float) and contains(dist, float(value))
        except OverflowError:  # an integer too large for a float
            inside = False
        if not inside:
            raise ConfigError(
                f"--params {key}={clip(repr(value))} is outside space {sp.name}'s range [{dist.low}, {dist.high}]; "
                "give a number inside it"
            )
    if not verbose:
        quiet()
    import torch

    torch.set_num_threads(max(1, int(exp.resources.cpus_per_trial)))  # as a Ray worker runs it: same kernels
    lora = resolve(sp, sampled, rank)
    click.echo(json.dumps({"lora": lora.as_dict()}))
    outcome = run_trial(
        exp,
        lora,
        seed=exp.seed if seed is None else seed,
        report=lambda r: click.echo(json_line(r.as_dict())),
        test=test,
    )
    click.echo(json_line({"end": outcome.end.value, "steps": outcome.steps, "final": outcome.final_metrics}))
