"""The options and arguments the commands share, and the checks of what a user typed.

A check that fails raises :class:`~lorasweep.errors.ConfigError` (one line, exit 2) before
anything runs or is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lorasweep.config import MAX_SEED
from lorasweep.errors import ConfigError, LorasweepError

if TYPE_CHECKING:
    from lorasweep.config import SpaceConfig

DEFAULT_STORAGE = "sqlite:///lorasweep.db"

storage_option = click.option(
    "--storage",
    default=DEFAULT_STORAGE,
    show_default=True,
    envvar="LORASWEEP_STORAGE",
    show_envvar=True,
    metavar="URL",
    help="Database URL (sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB). Give the password by "
    "LORASWEEP_DB_PASSWORD_FILE, PGPASSWORD or ~/.pgpass rather than in the URL.",
)
experiment_option = click.option(
    "--experiment", default=None, metavar="NAME", help="Experiment name (may be omitted if the database holds one)."
)


@dataclass(frozen=True, kw_only=True)
class SearchArgs:
    """The options every search command shares (see :func:`search_options`)."""

    config: str
    storage: str
    name: str | None
    trials: int | None
    max_steps: int | None
    seed: int | None
    verbose: bool


def search_options(fn: Any) -> Any:
    """The options every search command shares (the same as compare's)."""
    for option in reversed(
        [
            click.option(
                "--config",
                "config",
                default="default",
                show_default=True,
                metavar="NAME|PATH",
                help="Experiment YAML: a built-in name or a path.",
            ),
            storage_option,
            click.option("--name", default=None, metavar="NAME", help="Experiment name (default: config name + time)."),
            click.option("--trials", type=int, default=None, help="Trials per space and rank."),
            click.option("--max-steps", type=int, default=None, help="Steps per trial."),
            click.option("--seed", type=int, default=None, help="Seed for sampler, data order and LoRA init."),
            click.option("--verbose", is_flag=True, help="Show Ray, Optuna and transformers output."),
        ]
    ):
        fn = option(fn)
    return fn


def search_args(fn: Any) -> Any:
    """Hand the shared options to the command as one ``args: SearchArgs``."""

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        shared = {f.name: kwargs.pop(f.name) for f in dataclasses.fields(SearchArgs)}
        return fn(SearchArgs(**shared), **kwargs)

    return search_options(command)


def search_overrides(args: SearchArgs, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (a command's own) with the shared options' added, each checked."""
    overrides = dict(overrides)
    if count("trials", args.trials) is not None:
        overrides["budget.trials"] = args.trials
    if count("max-steps", args.max_steps) is not None:
        overrides["budget.max_steps"] = args.max_steps
    if seed(args.seed) is not None:
        overrides["seed"] = args.seed
    if experiment_name(args.name) is not None:
        overrides["name"] = args.name
    return overrides


def experiment_name(value: str | None) -> str | None:
    """``--name``'s value, checked by the rule of the experiment's ``name`` field (so that a bad one
    is blamed on --name, not on the YAML file)."""
    if value is None:
        return None
    import typing

    from pydantic import TypeAdapter, ValidationError

    from lorasweep.config.experiment import ExperimentConfig

    field = ExperimentConfig.model_fields["name"]
    name_type = next(t for t in typing.get_args(field.annotation) if t is not type(None))  # Annotated[str, rule]
    base, *rule = typing.get_args(name_type)
    try:  # the field's length limits first, then the name rule
        TypeAdapter(typing.Annotated[base, *field.metadata, *rule]).validate_python(value)
    except ValidationError as e:
        why = str(e.errors()[0]["msg"]).removeprefix("Value error, ")
        shown = value if len(value) <= 70 else value[:67] + "..."
        raise ConfigError(f"--name {shown!r}: {why[0].lower()}{why[1:]}") from None
    return value


def default_name(config: str) -> str:
    """``CONFIG-YYYYmmdd-HHMMSS``, with the config's file stem made safe for a name."""
    stem = Path(config).stem if config.endswith((".yaml", ".yml")) else Path(config).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:40] or "experiment"
    return f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def count(name: str, value: int | None, minimum: int = 1, maximum: int | None = None) -> int | None:
    """``--name``'s value, checked against its bounds (None: not given)."""
    if value is not None and value < minimum:
        raise ConfigError(f"--{name} must be at least {minimum}, got {value}")
    if value is not None and maximum is not None and value > maximum:
        raise ConfigError(f"--{name} must be at most {maximum}, got {value}; pick a smaller one")
    return value


def seed(value: int | None) -> int | None:
    return count("seed", value, minimum=0, maximum=MAX_SEED)


def ranks(text: str) -> list[int]:
    """``--ranks 4,8,16``: at least two ranks, each at least 1."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise ConfigError(f"--ranks {text!r}: give comma-separated integers, e.g. 4,8,16") from e
    if len(values) < 2 or min(values) < 1:
        raise ConfigError(f"--ranks {text!r}: give at least two ranks, each at least 1")
    return values


def floats(option: str, text: str) -> list[float]:
    """``--OPTION 1,2,4``: at least two numbers, each above 0."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise ConfigError(f"--{option} {text!r}: give comma-separated numbers, e.g. 1,2,4,8") from e
    if len(values) < 2 or min(values) <= 0:
        raise ConfigError(f"--{option} {text!r}: give at least two numbers, each above 0")
    return values


def space(name_or_path: str) -> SpaceConfig:
    """A space by name or path."""
    from lorasweep.space.resolve import load_space

    return load_space(name_or_path)


def given_path(name_or_path: str) -> str:
    """A file named on the command line is relative to the working directory, not to the config."""
    path = Path(name_or_path).expanduser()
    return str(path.absolute()) if path.suffix in (".yaml", ".yml") and path.is_file() else name_or_path


def existing(path: Path, kind: str) -> Path:
    """A validate command's file: it must exist (a built-in name is not a file to validate)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give the path of a {kind} YAML file")
    return path


def out_path(out: Path, what: str) -> Path:
    """``--out`` as an absolute path whose folder exists and is writable (checked before anything runs)."""
    out = out.expanduser().absolute()
    folder = out.parent
    found = next(p for p in (folder, *folder.parents) if p.exists())
    if not found.is_dir():
        raise LorasweepError(f"--out {out}: {found} is a file, not a folder; give a path inside a folder")
    if found != folder:
        raise LorasweepError(f"--out {out}: folder {folder} does not exist; create it or pick another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LorasweepError(
            f"--out {out}: folder {folder} is not writable; pick another {what} or fix its permissions"
        )
    return out
