"""``lorasweep tasks list|kinds|show|validate``: the built-in tasks, the task kinds, task files."""

from __future__ import annotations

from pathlib import Path

import click

from lorasweep.cli.console import echo_yaml
from lorasweep.cli.options import existing
from lorasweep.errors import ConfigError


@click.group("tasks")
def tasks() -> None:
    """Built-in tasks."""


@tasks.command("list")
def tasks_list() -> None:
    """List the built-in tasks."""
    from lorasweep.config import builtin_names, load_task

    for name in builtin_names("task"):
        task = load_task(name)
        click.echo(f"{name:<20} {task.kind:<21} {task.n_train} train / {task.n_eval} eval  {task.description}")


@tasks.command("kinds")
def tasks_kinds() -> None:
    """List the task kinds (``kind:``) and the metrics each reports, with their directions."""
    from lorasweep.config import TASK_KINDS

    for name in TASK_KINDS:
        kind = TASK_KINDS.get(name)
        metrics = ", ".join(f"{m.name} ({m.direction.value})" for m in kind.metrics)
        if kind.task_declares_metrics:
            metrics = "declared by each task (metrics: [{name, direction}])"
        click.echo(f"{name:<21} {metrics}")


@tasks.command("show")
@click.argument("name")
def tasks_show(name: str) -> None:
    """Print a task (built-in name or path) as validated YAML."""
    from lorasweep.config import load_task

    echo_yaml(load_task(name))


@tasks.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def tasks_validate(path: Path) -> None:
    """Check a task YAML file, its generator and params (no model is loaded)."""
    from lorasweep.config import load_task

    task = load_task(existing(path, "task"))
    try:
        task.check_data()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    click.echo(f"ok: task {task.name} ({task.kind}, {task.n_train} train / {task.n_eval} eval)")
