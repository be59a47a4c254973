"""Reading config files: built-in files by name, user files by path, the safe YAML loader (no
aliases, no duplicate keys, size and encoding checked), local paths made absolute, and the
experiment's references to spaces and tasks resolved."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lorasweep.config.experiment import ExperimentConfig
from lorasweep.config.fields import BUILTIN_PREFIX, PACKAGE_PREFIX
from lorasweep.config.messages import validate
from lorasweep.config.spaces import SpaceConfig
from lorasweep.config.tasks import TaskConfig, TaskFields
from lorasweep.errors import ConfigError

__all__ = [
    "MAX_YAML_BYTES",
    "builtin_names",
    "experiment_from_dict",
    "find_file",
    "load_experiment",
    "load_space",
    "load_task",
    "read_yaml",
]

_PACKAGE_DIRS = {"experiment": "experiments", "space": "space/builtin", "task": "tasks"}


def builtin_names(kind: str) -> list[str]:
    """Names of the built-in files of one kind ("experiment", "space" or "task")."""
    folder = resources.files("lorasweep").joinpath(_PACKAGE_DIRS[kind])
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def find_file(kind: str, name_or_path: str | Path, base: Path | None = None) -> Path:
    """A built-in file by name, or a user file by path (a relative path is looked up next to the
    file that names it, ``base``, then in the working directory); else an error listing names."""
    text = str(name_or_path)
    if text in builtin_names(kind):
        return Path(str(resources.files("lorasweep").joinpath(_PACKAGE_DIRS[kind], f"{text}.yaml")))
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute() and (base / path).is_file():
        return (base / path).absolute()
    if path.is_file():
        return path.absolute()
    if path.exists():
        raise ConfigError(f"{path}: is not a file; give the path of a {kind} YAML file")
    raise ConfigError(
        f"{text}: no such {kind} file or built-in {kind}; built-in {kind}s: {', '.join(builtin_names(kind))}"
    )


#: The largest config file lorasweep reads (the built-in ones are ~2 KB).
MAX_YAML_BYTES = 1 << 20


class _AliasError(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        self.line = line


class _Loader(yaml.SafeLoader):
    """YAML without aliases: ``*name`` can multiply a 1 KB file into a config of many megabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasError(self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)


def _duplicate_key(node: yaml.Node, path: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
    """The first key given twice in one mapping: ``(dotted key, its line, the earlier line)``."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in seen:
                return ".".join((*path, name)), line, seen[name]
            seen[name] = line
            if (found := _duplicate_key(value, (*path, name))) is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            if (found := _duplicate_key(item, (*path, str(i)))) is not None:
                return found
    return None


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file as a mapping: UTF-8, at most MAX_YAML_BYTES, no duplicate keys, no aliases."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror}); check the path and permissions") from e
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{path}: is larger than {MAX_YAML_BYTES // 1024} KiB, too large for a config file; give the right file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8"
        ) from e
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and (dup := _duplicate_key(node)) is not None:
            key, line, first = dup
            raise ConfigError(f"{path}: line {line}: key '{key}' is given twice (also on line {first}); keep one")
        data = loader.construct_document(node) if node is not None else None
    except _AliasError as e:
        raise ConfigError(
            f"{path}: line {e.line}: aliases (*name) are not supported in lorasweep files; write the value out"
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem}); fix the syntax") from e
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise ConfigError(f"{path}: a value cannot be read ({str(e).splitlines()[0]}); fix it") from e
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a YAML mapping (key: value lines), got {type(data).__name__}")
    return data


def load_space(name_or_path: str | Path, base: Path | None = None) -> SpaceConfig:
    """A search space, validated: a built-in name (``lorasweep spaces``) or a YAML path (a relative
    one next to ``base``, the file that names it, then in the working directory). A bad file raises a one-line
    :class:`~lorasweep.errors.ConfigError` naming the file, the field and the fix."""
    path = find_file("space", name_or_path, base)
    return validate(str(path), SpaceConfig, read_yaml(path))


def load_task(name_or_path: str | Path, base: Path | None = None) -> TaskFields:
    """A task, validated as its ``kind`` says (the kinds registered in :mod:`lorasweep.kinds`): a
    built-in name (``lorasweep tasks``) or a YAML path; its local data paths are resolved against
    the file's folder. Errors as :func:`load_space`."""
    path = find_file("task", name_or_path, base)
    return validate(str(path), TaskConfig, _with_data_paths(read_yaml(path), path.parent))


#: Suffixes that mark a ``data.path`` as a local file even before it exists (else: a hub id).
_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def _local(value: str, folder: Path | None, *, always: bool = False, kind: str = "exists") -> str:
    """A local path named in a YAML file, made absolute (Ray runs trials in other directories):
    next to the file that names it (``folder``), else in the working directory. A value that
    exists in neither stays as it is (a hub id) unless ``always`` says it is a path anyway."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    check = Path.is_dir if kind == "dir" else Path.exists
    if folder is not None and check(folder / path):
        return str(folder / path)
    if check(path):
        return str(path.absolute())
    if always or value.startswith(("./", "../", "~")):
        return str((folder or Path.cwd()) / path)
    return value


def _with_data_paths(raw: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """A task's local data files (and a ``kind: python`` task's ``python_path``, default the YAML
    file's folder), absolute: found next to its YAML file (then in the working directory)."""
    if raw.get("kind") == "python":
        paths = raw.get("python_path", ["."])
        if isinstance(paths, list):
            raw = {**raw, "python_path": [_local(p, folder, always=True) if isinstance(p, str) else p for p in paths]}
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    data = dict(data)
    if isinstance(path := data.get("path"), str):
        data["path"] = _local(path, folder, always=path.lower().endswith(_DATA_SUFFIXES))
    if isinstance(data.get("data_files"), dict):
        data["data_files"] = {
            k: _local(v, folder, always=True) if isinstance(v, str) else v for k, v in data["data_files"].items()
        }
    return {**raw, "data": data}


def _with_local_paths(data: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """An experiment's local paths, absolute: the inline task's data, a model directory, and
    ``ray.storage_path`` (relative to the YAML file, else the working directory)."""
    data = dict(data)
    if isinstance(data.get("task"), dict):
        data["task"] = _with_data_paths(data["task"], folder)
    model = data.get("model")
    name = model.get("name_or_path") if isinstance(model, dict) else None
    if isinstance(model, dict) and isinstance(name, str) and not name.startswith((PACKAGE_PREFIX, BUILTIN_PREFIX)):
        data["model"] = {**model, "name_or_path": _local(name, folder, kind="dir")}
    ray = data.get("ray")
    if isinstance(ray, dict) and isinstance(storage := ray.get("storage_path"), str) and "://" not in storage:
        data["ray"] = {**ray, "storage_path": str((folder or Path.cwd()) / Path(storage).expanduser())}
    return data


def _base(source: str) -> Path | None:
    """The folder of the file being loaded: relative references in it start there."""
    path = Path(source)
    return path.parent if path.is_file() else None


def _in(source: str, field: str, fn: Any, *args: Any) -> Any:
    """Run a nested load; its error also names the file and field that referred to it."""
    try:
        return fn(*args)
    except ConfigError as e:
        raise ConfigError(f"{source}: field '{field}': {e}") from e


def _resolve_space_entry(source: str, index: int, entry: Any) -> dict[str, Any]:
    """A ``spaces:`` entry is a name/path, or ``{use: NAME_OR_PATH, ...overrides}``, or a full space."""
    if isinstance(entry, str):
        return _in(source, f"spaces.{index}", load_space, entry, _base(source)).model_dump(mode="json")
    if isinstance(entry, dict) and "use" in entry:
        base = _in(source, f"spaces.{index}.use", load_space, entry["use"], _base(source)).model_dump(mode="json")
        overrides = {k: v for k, v in entry.items() if k != "use"}
        return {**base, **overrides}
    if isinstance(entry, dict):
        return entry
    raise ConfigError(f"{source}: field 'spaces.{index}': expected a space name, a path, or a mapping, got {entry!r}")


def experiment_from_dict(
    source: str, data: dict[str, Any], overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Resolve task and space references, apply CLI overrides, validate."""
    data = dict(data)
    overrides = overrides or {}
    if isinstance(data.get("task"), str) and any(k.startswith("task.") for k in overrides):
        data["task"] = _in(source, "task", load_task, data["task"], _base(source)).model_dump(mode="json")
    for key, value in overrides.items():
        target = data
        *parents, last = key.split(".")
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        target[last] = value
    task = data.get("task")
    if isinstance(task, str):
        data["task"] = _in(source, "task", load_task, task, _base(source)).model_dump(mode="json")
    data = _with_local_paths(data, _base(source))
    spaces = data.get("spaces")
    if isinstance(spaces, list):
        data["spaces"] = [_resolve_space_entry(source, i, e) for i, e in enumerate(spaces)]
    return validate(source, ExperimentConfig, data)


def load_experiment(name_or_path: str | Path = "default", overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """An experiment, validated, with its task and spaces loaded (by name or path, relative to
    the experiment file): a built-in name or a YAML path. ``overrides`` are dotted keys
    (``{"budget.trials": 4}``, from ``--set``) applied before validation. Errors as
    :func:`load_space`."""
    path = find_file("experiment", name_or_path)
    return experiment_from_dict(str(path), read_yaml(path), overrides)
