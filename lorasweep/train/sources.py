"""Examples of a ``classification`` or ``causal_lm_sft`` task, read with HF ``datasets`` from the
hub (or its cache), a local folder laid out like a hub snapshot, or local JSONL / CSV / Parquet files.

:func:`load_examples` (texts and labels) and :func:`load_pairs` (prompts and completions) return
the train and eval examples the task asks for: ``n_train`` from the
train split and ``n_eval`` from the eval split (or held out from the train split), each drawn in
an order fixed by the task's ``data_seed``. Column names, label names and ranges are checked here,
so a wrong mapping fails before any trial with a message naming the field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lorasweep.config import DataSource, parse_task
from lorasweep.errors import ConfigError
from lorasweep.train.datafiles import check_classes, check_files, check_texts, local_files

#: File suffix → the ``datasets`` builder that reads it.
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class DataTask(Protocol):
    """A task that reads its examples from a dataset (``data:``)."""

    n_train: int
    n_eval: int
    data_seed: int
    data: DataSource

    def model_dump_json(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Examples:
    texts: list[str]
    labels: list[int]
    pairs: list[str] | None = None  # the second text of pair tasks


def _builder(files: list[str]) -> str:
    formats = {FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise ConfigError(
            f"task data files {files}: use one format of .jsonl, .json, .csv or .parquet (by file suffix)"
        )
    return formats.pop()  # type: ignore[return-value]


def _load(src: DataSource) -> Any:
    """A ``DatasetDict`` of the source's splits."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        if src.data_files is not None:
            for f in src.data_files.values():
                if not Path(f).is_file():
                    raise ConfigError(f"task data.data_files: {f} does not exist; give the path of a data file")
            check_files((Path(f) for f in src.data_files.values()), "data.data_files")
            return datasets.load_dataset(_builder(list(src.data_files.values())), data_files=src.data_files)
        assert src.path is not None
        path = Path(src.path).expanduser()
        if path.is_file():
            check_files([path], "data.path")
            return datasets.load_dataset(_builder([str(path)]), data_files={"train": str(path)})
        if path.is_dir():
            check_files(local_files(str(path), None) or [], "data.path")
        return datasets.load_dataset(src.path, src.config, revision=src.revision)
    except ConfigError:
        raise
    except (FileNotFoundError, ValueError, OSError, StopIteration, datasets.exceptions.DatasetGenerationError) as e:
        what = src.path or src.data_files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"task data.path {what!r}: cannot load it ({first}); give a hub id that is reachable or cached "
            "(HF_HUB_OFFLINE=1 uses the cache only), a local folder, or a .jsonl/.csv/.parquet file"
        ) from e


def _split(ds: Any, name: str, field: str) -> Any:
    if name not in ds:
        raise ConfigError(f"task data.{field}: no split '{name}'; the data has {', '.join(ds)}")
    return ds[name]


def _column(split: Any, name: str, field: str) -> list[Any]:
    if name not in split.column_names:
        raise ConfigError(
            f"task data.columns.{field}: no column '{name}'; the data has {', '.join(split.column_names)}"
        )
    return list(split[name])


def _labels(values: list[Any], src: DataSource, num_labels: int) -> list[int]:
    if src.label_names is not None:
        ids = {name: i for i, name in enumerate(src.label_names)}
        unknown = sorted({str(v) for v in values if str(v) not in ids})
        if unknown:
            raise ConfigError(f"task data.label_names: labels {unknown[:5]} are not listed; add them in id order")
        out = [ids[str(v)] for v in values]
    else:
        if any(isinstance(v, (str, bool)) or not float(v).is_integer() for v in values):
            raise ConfigError(
                "task data.columns.label: the labels are not integer ids; list the names in data.label_names"
            )
        out = [int(v) for v in values]
    bad = [v for v in out if not 0 <= v < num_labels]
    if bad:
        raise ConfigError(
            f"task num_labels is {num_labels} but the data has label {bad[0]} (ids run 0..num_labels-1); "
            "raise num_labels or fix the labels (unlabelled test splits use -1: evaluate on another split)"
        )
    return out


def _texts(part: Any, rows: list[int], column: str, field: str) -> list[str]:
    """A text column of the selected rows: every cell holds text (see :mod:`~lorasweep.train.datafiles`)."""
    return check_texts(_column(part, column, field), rows, column, field, str(part.split or "train"))


def _examples(split: Any, src: DataSource, num_labels: int, rows: list[int], part_name: str) -> Examples:
    part = split.select(rows)
    texts = _texts(part, rows, src.columns.text, "text")
    pairs = None
    if src.columns.text_pair is not None:
        pairs = _texts(part, rows, src.columns.text_pair, "text_pair")
    labels = _labels(_column(part, src.columns.label, "label"), src, num_labels)
    check_classes(labels, part_name, num_labels)
    return Examples(texts=texts, labels=labels, pairs=pairs)


def _rows(task: DataTask, ds: Any) -> tuple[Any, list[int], Any, list[int]]:
    """``(train split, train rows, eval split, eval rows)``: ``n_train`` and ``n_eval`` rows drawn
    in an order fixed by ``data_seed``; eval rows come from ``eval_split`` or are held out of train."""
    import random

    src = task.data
    train = _split(ds, src.train_split, "train_split")
    rng = random.Random(task.data_seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    if src.eval_split is None:  # hold the eval examples out of the train split
        if task.n_train + task.n_eval > len(train):
            raise ConfigError(
                f"task n_train + n_eval = {task.n_train + task.n_eval} but split '{src.train_split}' has "
                f"{len(train)} rows; lower them or set data.eval_split"
            )
        return train, order[: task.n_train], train, order[task.n_train : task.n_train + task.n_eval]
    evaluation = _split(ds, src.eval_split, "eval_split")
    if task.n_train > len(train) or task.n_eval > len(evaluation):
        raise ConfigError(
            f"task asks for {task.n_train} train / {task.n_eval} eval rows but the splits have {len(train)} / "
            f"{len(evaluation)}; lower n_train or n_eval"
        )
    eval_order = list(range(len(evaluation)))
    rng.shuffle(eval_order)
    return train, order[: task.n_train], evaluation, eval_order[: task.n_eval]


@functools.lru_cache(maxsize=4)
def _cached(task_json: str) -> tuple[Examples, Examples]:
    task: Any = parse_task(task_json)  # a classification task
    src = task.data
    train, train_rows, evaluation, eval_rows = _rows(task, _load(src))
    return (
        _examples(train, src, task.num_labels, train_rows, "train"),
        _examples(evaluation, src, task.num_labels, eval_rows, "eval"),
    )


def load_examples(task: DataTask) -> tuple[Examples, Examples]:
    """A classification task's ``(train, eval)`` examples (loaded once per process)."""
    return _cached(task.model_dump_json())


@dataclass(frozen=True, kw_only=True)
class Pairs:
    """Prompt → completion examples of a causal_lm_sft task."""

    prompts: list[str]
    completions: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


def _pairs(split: Any, src: DataSource, rows: list[int]) -> Pairs:
    part = split.select(rows)
    prompts = _texts(part, rows, src.columns.prompt, "prompt")
    completions = _texts(part, rows, src.columns.completion, "completion")
    return Pairs(prompts=prompts, completions=completions)


@functools.lru_cache(maxsize=4)
def _cached_pairs(task_json: str) -> tuple[Pairs, Pairs]:
    task: Any = parse_task(task_json)  # a causal_lm_sft task
    src = task.data
    train, train_rows, evaluation, eval_rows = _rows(task, _load(src))
    return _pairs(train, src, train_rows), _pairs(evaluation, src, eval_rows)


def load_pairs(task: DataTask) -> tuple[Pairs, Pairs]:
    """A causal_lm_sft task's ``(train, eval)`` prompt/completion pairs (loaded once per process)."""
    return _cached_pairs(task.model_dump_json())
