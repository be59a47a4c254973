"""A task's examples read with HF ``datasets`` from the hub (or its cache), a local folder laid
out like a hub snapshot, or local JSONL / CSV / Parquet files.

:func:`load_columns` returns, for the columns a kind asks for (role → column name, from
``data.columns`` and the kind's defaults), the values of its ``n_train`` train and ``n_eval`` eval
rows: from the train split and the eval split (or held out from the train split), each drawn in an
order fixed by the task's ``data_seed``; :func:`load_test_columns` the ``n_test`` test rows (from
``test_split``, or held out from the train split), none of them a train or eval row. Any column
of any type: a kind turns the values into its examples (texts and label ids, prompts and
completions, tokens and tags) in its own module.
Splits and column names are checked here, so a wrong mapping fails before any trial with a
message naming the field.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lorasweep.config import DataSource, parse_task
from lorasweep.errors import ConfigError
from lorasweep.train.datafiles import check_files, check_texts, local_files

#: File suffix → the ``datasets`` builder that reads it.
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class DataTask(Protocol):
    """A task that reads its examples from a dataset (``data:``)."""

    n_train: int
    n_eval: int
    n_test: int | None
    data_seed: int
    data: DataSource

    def model_dump_json(self) -> str: ...


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


@dataclass(frozen=True, kw_only=True)
class Drawn:
    """The rows a task uses: each part is ``(split, row indices)``; no row is in two parts."""

    train: tuple[Any, list[int]]
    eval: tuple[Any, list[int]]
    test: tuple[Any, list[int]]


def _rows(task: DataTask, ds: Any) -> Drawn:
    """``n_train`` train, ``n_eval`` eval and ``n_test`` test rows, drawn in an order fixed by
    ``data_seed``: eval rows come from ``eval_split`` or are held out of train; test rows from
    ``test_split`` (after the eval rows, when it is the eval split) or are held out of train after
    the train and eval rows. The train and eval rows are those of a task without a test split."""
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
        evaluation, eval_order = train, order[task.n_train :]
        used = task.n_train + task.n_eval  # rows of the train split taken
    else:
        evaluation = _split(ds, src.eval_split, "eval_split")
        if task.n_train > len(train) or task.n_eval > len(evaluation):
            raise ConfigError(
                f"task asks for {task.n_train} train / {task.n_eval} eval rows but the splits have {len(train)} / "
                f"{len(evaluation)}; lower n_train or n_eval"
            )
        eval_order = list(range(len(evaluation)))
        rng.shuffle(eval_order)
        used = task.n_train
    n_test = task.n_test if task.n_test is not None else task.n_eval
    if src.test_split is None:  # hold the test examples out of the train split, after the others
        if used + n_test > len(train):
            raise ConfigError(
                f"task n_test: {n_test} test rows held out of split '{src.train_split}' need {used + n_test} rows "
                f"with the {used} train/eval rows, but it has {len(train)}; lower n_test (default n_eval) or set "
                "data.test_split"
            )
        test = (train, order[used : used + n_test])
    elif src.test_split == src.eval_split:  # the eval split's rows after the eval rows
        if task.n_eval + n_test > len(evaluation):
            raise ConfigError(
                f"task n_test: split '{src.test_split}' holds the {task.n_eval} eval and {n_test} test rows, but has "
                f"{len(evaluation)}; lower n_test (default n_eval) or name another data.test_split"
            )
        test = (evaluation, eval_order[task.n_eval : task.n_eval + n_test])
    else:
        named = _split(ds, src.test_split, "test_split")
        if n_test > len(named):
            raise ConfigError(
                f"task n_test: {n_test} test rows but split '{src.test_split}' has {len(named)}; lower n_test "
                "(default n_eval)"
            )
        test_order = list(range(len(named)))
        rng.shuffle(test_order)
        test = (named, test_order[:n_test])
    return Drawn(train=(train, order[: task.n_train]), eval=(evaluation, eval_order[: task.n_eval]), test=test)


#: The values of one split: role → the column's values, in row order.
Columns = dict[str, list[Any]]


@functools.lru_cache(maxsize=8)
def _cached(
    task_json: str, columns: tuple[tuple[str, str], ...], texts: frozenset[str]
) -> tuple[Columns, Columns, Columns]:
    task: Any = parse_task(task_json)  # a task that reads a dataset (data:)
    drawn = _rows(task, _load(task.data))

    def read(split: Any, rows: list[int]) -> Columns:
        part = split.select(rows)
        values = {role: _column(part, column, role) for role, column in columns}
        for role, column in columns:
            if role in texts:  # every cell holds text (see lorasweep.train.datafiles)
                values[role] = check_texts(values[role], rows, column, role, str(split.split or "train"))
        return values

    return read(*drawn.train), read(*drawn.eval), read(*drawn.test)


def load_columns(task: DataTask, columns: Mapping[str, str], texts: Collection[str] = ()) -> tuple[Columns, Columns]:
    """``(train, eval)`` values of ``columns`` (role → column name) of a task that reads a dataset
    (loaded once per process and column set). A missing column is an error naming
    ``data.columns.ROLE`` and listing the data's columns. The roles in ``texts`` must hold text in
    every row used: an empty or missing cell is an error naming the column, split and row; their
    values come back as strings."""
    train, evaluation, _ = _cached(task.model_dump_json(), tuple(sorted(columns.items())), frozenset(texts))
    return train, evaluation


def load_test_columns(task: DataTask, columns: Mapping[str, str], texts: Collection[str] = ()) -> Columns:
    """The test rows' values of ``columns``, as :func:`load_columns` reads train and eval: ``n_test``
    rows of ``data.test_split``, or held out of the train split with ``data_seed`` (no row is also a
    train or eval row). Too few rows is an error naming ``n_test``."""
    return _cached(task.model_dump_json(), tuple(sorted(columns.items())), frozenset(texts))[2]
