"""``lorasweep recommend``: α (and its LR) for a rank, from the α* of stored studies."""

from __future__ import annotations

import json

import click

from lorasweep.cli.options import storage_option


@click.command("recommend")
@storage_option
@click.option("--rank", type=click.IntRange(min=1), required=True, help="The LoRA rank you will train at.")
@click.option("--task", default=None, metavar="NAME", help="Use only studies of this task.")
@click.option("--rslora", is_flag=True, help="Recommend α for rsLoRA (s = α/√r), from rsLoRA studies; default s = α/r.")
@click.option("--json", "as_json", is_flag=True, help="Print the recommendation as JSON.")
def recommend(storage: str, rank: int, task: str | None, rslora: bool, as_json: bool) -> None:
    """Propose α (and the LR to use with it) for a rank, from the α* of stored studies."""
    from lorasweep.analysis.recommend import recommend as recommend_alpha
    from lorasweep.store import Storage

    with Storage.open(storage, readonly=True) as st:
        st.check_schema()
        rec = recommend_alpha(st, rank, task, use_rslora=rslora)
    if as_json:
        click.echo(json.dumps(rec.as_dict(), indent=2))
        return
    if rec.sources:
        click.echo(f"used ({len(rec.sources)}):")
    for src in rec.sources:
        edge = "  at the edge of its range" if src.at_edge else ""
        click.echo(
            f"  {src.study:<40} r={src.rank:<4} alpha*={src.alpha_star:<10.4g} LR={src.lr:.3g}  "
            f"(best {src.value:.4g}){edge}"
        )
    if rec.excluded:
        click.echo(f"left out ({len(rec.excluded)}):")
    for ex in rec.excluded:
        click.echo(
            f"  {ex.source.study:<40} r={ex.source.rank:<4} alpha*={ex.source.alpha_star:<10.4g} "
            f"{ex.reason.value.replace('_', ' ')}: {ex.detail}"
        )
    edges = [s for s in rec.sources if s.at_edge]
    if edges:
        click.echo(
            f"warning: {len(edges)} of {len(rec.sources)} studies found alpha* at the edge of the range they searched; "
            "the optimum may lie beyond it, so treat the law as a bound and widen those spaces"
        )
    if rec.fit is not None and rec.alpha is not None:
        f = rec.fit
        interval = f"p in [{f.p_ci[0]:.3f}, {f.p_ci[1]:.3f}]" if f.p_ci is not None else "no interval"
        click.echo(f"law from {f.n} studies: alpha* = {f.c:.4g} · r^{f.p:.3f}  ({interval}; {f.interval_method})")
        shown = (
            f"[{rec.alpha_ci[0]:.4g}, {rec.alpha_ci[1]:.4g}] (95 % prediction interval)"
            if rec.alpha_ci is not None
            else "(point estimate, no interval)"
        )
        click.echo(f"rank {rank}: alpha = {rec.alpha:.4g} {shown}, with LR = {rec.lr:.3g}")
        return
    click.echo(f"not enough data: {rec.reason}")
    if rec.alpha is not None:
        click.echo(f"rank {rank} was searched: alpha* = {rec.alpha:.4g} with LR = {rec.lr:.3g} (no law, no interval)")
