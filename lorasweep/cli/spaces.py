"""``lorasweep spaces list|show|validate``: the built-in search spaces and space files."""

from __future__ import annotations

from pathlib import Path

import click

from lorasweep.cli.console import echo_yaml
from lorasweep.cli.options import existing


@click.group("spaces")
def spaces() -> None:
    """Built-in search spaces."""


@spaces.command("list")
def spaces_list() -> None:
    """List the built-in spaces."""
    from lorasweep.space.resolve import builtin_space_names, load_space, searched

    for name in builtin_space_names():
        space = load_space(name)
        names = ", ".join(searched(space)) or "nothing"
        click.echo(f"{name:<20} searches {names:<7} {space.description}")


@spaces.command("show")
@click.argument("name")
def spaces_show(name: str) -> None:
    """Print a space (built-in name or path) as validated YAML."""
    from lorasweep.space.resolve import load_space

    echo_yaml(load_space(name))


@spaces.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def spaces_validate(path: Path) -> None:
    """Check a space YAML file; print what it searches."""
    from lorasweep.space.resolve import load_space, searched

    space = load_space(existing(path, "space"))
    matched = f" ({space.matched} matched to the experiment's effective_step)" if space.matched else ""
    click.echo(f"ok: space {space.name} searches {', '.join(searched(space))}{matched}")
