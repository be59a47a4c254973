"""What a task's local data files must be before ``datasets`` reads them, and their fingerprint.

``datasets`` turns an empty, non-UTF-8 or truncated JSONL/CSV file into a ``DatasetGenerationError``
(or a ``StopIteration``) traceback; :func:`check_files` finds each of these first and says it in
one line naming the file, the line and the fix. :func:`fingerprint` hashes the bytes of the files a
task reads (a local file or folder; a hub dataset has none), so a stored experiment can tell
whether the data at the same path changed since it trained on it (``compare --resume/--seeds``).

The rules for the cells themselves (:func:`check_texts`, :func:`check_classes`):

- every text cell a task reads (text, text_pair, prompt, completion) must hold text: an empty or
  missing cell (CSV's ``,,`` reads as missing) is an error naming the column, the split and the
  first row, never the string "None";
- the train and eval examples of a classification task must hold at least two classes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from lorasweep.errors import ConfigError

#: Bytes read at a time when hashing or checking a file.
CHUNK = 1 << 20
#: Files that ``datasets`` reads as text (one record per line for JSONL).
TEXT_SUFFIXES = {".jsonl", ".json", ".csv"}
#: A folder laid out like a hub snapshot: the files ``datasets`` may read from it.
DATA_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet", ".arrow", ".txt", ".tsv"}


def _where(path: Path, field: str) -> str:
    return f"task {field} {str(path)!r}"


def check_file(path: Path, field: str) -> None:
    """One local data file: not empty, UTF-8 text (JSONL/JSON/CSV), every JSONL line a whole JSON
    object. A ConfigError names the file, the line and the fix."""
    where = _where(path, field)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ConfigError(f"{where}: cannot read it ({e.strerror}); give the path of a readable data file") from e
    if size == 0:
        raise ConfigError(f"{where}: the file is empty (0 bytes); give a data file that holds the examples")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        return
    records = 0
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ConfigError(
                        f"{where}: line {number} is not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                        "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    ) from e
                if suffix == ".jsonl" and line.strip():
                    _json_line(line, number, where, last=not raw.endswith(b"\n"))
                    records += 1
    except OSError as e:
        raise ConfigError(f"{where}: cannot read it ({e.strerror}); give the path of a readable data file") from e
    if suffix == ".jsonl" and records == 0:
        raise ConfigError(f"{where}: the file holds no JSON lines; give a data file that holds the examples")


def _json_line(line: str, number: int, where: str, last: bool) -> None:
    """``last``: the file's last line, with no newline after it (where a cut-off file ends)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        why = "ends before its record does (the file is truncated)" if last else f"is not valid JSON ({e.msg})"
        raise ConfigError(f"{where}: line {number} {why}; fix or remove that line") from e
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: line {number} is a JSON {type(value).__name__}, not an object; "
            'write one {"column": value, ...} object per line'
        )


def local_files(path: str | None, data_files: dict[str, str] | None) -> list[Path] | None:
    """The local files a data source reads, in a fixed order; None for a hub dataset."""
    if data_files is not None:
        return [Path(f) for f in data_files.values()]
    assert path is not None
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DATA_SUFFIXES)
    return None


def check_files(files: Iterable[Path], field: str) -> None:
    for f in files:
        check_file(f, field)


def fingerprint(files: Sequence[Path]) -> str:
    """``sha256:HEX`` over the files' names (as given, in order) and bytes."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return f"sha256:{h.hexdigest()}"


def check_texts(values: Sequence[object], rows: Sequence[int], column: str, field: str, split: str) -> list[str]:
    """The cells of a text column (``values``, read from the split's ``rows``) as strings; an
    empty or missing cell is a ConfigError naming its row in the split."""
    empty = [row for row, v in zip(rows, values, strict=True) if v is None or (isinstance(v, str) and not v.strip())]
    if empty:
        raise ConfigError(
            f"task data.columns.{field}: column '{column}' of split '{split}' has {len(empty)} empty or missing "
            f"cell(s) among the rows used (the first: row {min(empty)}); fill them or drop those rows"
        )
    return [str(v) for v in values]


def check_classes(labels: Sequence[int], part: str, num_labels: int) -> None:
    """A classification task's ``part`` (train/eval examples) holds two classes or more."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        only = f"only label {classes[0]}" if classes else "no labels"
        raise ConfigError(
            f"task data: the {part} examples have {only} ({len(labels)} rows) but num_labels is {num_labels}; "
            "a classifier needs examples of at least two classes (check data.columns.label and the data file)"
        )
