"""Classification tasks read from data: local JSONL / CSV / Parquet files and a folder laid out
like a hub snapshot (the hub code path: ``datasets.load_dataset(path, config)``), offline."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from lorasweep.config import load_experiment, load_task
from lorasweep.errors import ConfigError
from lorasweep.scaling import LoraParams
from lorasweep.train.train import TrialEnd, run_trial

from conftest import TINY, run_cli

WORDS = {1: ["great", "lovely", "superb"], 0: ["awful", "dull", "poor"]}


def _rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        rows.append(
            {
                "sentence": f"the film was {rng.choice(WORDS[label])} number {i}",
                "premise": f"review {i}",
                "label": label,
                "sentiment": "pos" if label else "neg",
            }
        )
    return rows


def _task(tmp_path: Path, data: dict[str, object], **more: object) -> Path:
    doc = {
        "name": "files",
        "kind": "classification",
        "num_labels": 2,
        "n_train": 40,
        "n_eval": 20,
        "max_length": 32,
        "data": data,
        **more,
    }
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_jsonl_file_holds_out_eval_rows_in_a_seeded_order(tmp_path: Path) -> None:
    (tmp_path / "reviews.jsonl").write_text("\n".join(json.dumps(r) for r in _rows(100)))
    task = load_task(_task(tmp_path, {"path": "reviews.jsonl", "columns": {"text": "sentence"}}))
    assert Path(task.data.path).is_absolute()  # type: ignore[union-attr]  # found next to the YAML
    train, evaluation = task.examples()
    assert len(train.texts) == 40 and len(evaluation.texts) == 20 and train.pairs is None
    assert not set(train.texts) & set(evaluation.texts)  # held out, not overlapping
    assert all(t.startswith("the film was") for t in train.texts)
    again, _ = task.model_copy(update={"name": "same-data"}).examples()
    assert again.texts == train.texts  # data_seed fixes the draw
    other, _ = task.model_copy(update={"data_seed": 5}).examples()
    assert other.texts != train.texts


def test_csv_splits_with_text_pairs_and_label_names(tmp_path: Path) -> None:
    import csv

    for split, n in (("train", 60), ("test", 30)):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["premise", "sentence", "label", "sentiment"])
            writer.writeheader()
            writer.writerows(_rows(n, seed=n))
    data = {
        "data_files": {"train": "train.csv", "test": "test.csv"},
        "eval_split": "test",
        "columns": {"text": "premise", "text_pair": "sentence", "label": "sentiment"},
        "label_names": ["neg", "pos"],
    }
    train, evaluation = load_task(_task(tmp_path, data)).examples()
    assert train.pairs is not None and len(train.pairs) == 40 and len(evaluation.labels) == 20
    positive = [any(w in p for w in WORDS[1]) for p in train.pairs]
    assert positive == [y == 1 for y in train.labels]


def test_a_folder_laid_out_like_a_hub_snapshot_loads_through_the_hub_path(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = tmp_path / "my-org--reviews"
    (snapshot / "data").mkdir(parents=True)
    for split, n in (("train", 80), ("validation", 40)):
        table = pa.Table.from_pylist(_rows(n, seed=n))
        pq.write_table(table, snapshot / "data" / f"{split}-00000-of-00001.parquet")
    task = load_task(
        _task(tmp_path, {"path": str(snapshot), "eval_split": "validation", "columns": {"text": "sentence"}})
    )
    train, evaluation = task.examples()
    assert len(train.texts) == 40 and len(evaluation.texts) == 20

    # and a trial trains on it: the tiny model, its tokenizer, text-pair encoding
    exp = load_experiment(TINY, {"task": task.model_dump(mode="json"), "budget.max_steps": 10, "budget.eval_every": 5})
    outcome = run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-3), 0, lambda r: None)
    assert outcome.end == TrialEnd.COMPLETE and 0.0 <= outcome.final_metrics["accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("data", "more", "message"),
    [
        ({"path": "r.jsonl", "columns": {"text": "text"}}, {}, "data.columns.text: no column 'text'; the data has"),
        (
            {"path": "r.jsonl", "columns": {"text": "sentence"}, "eval_split": "dev"},
            {},
            "data.eval_split: no split 'dev'",
        ),
        (
            {"path": "r.jsonl", "columns": {"text": "sentence", "label": "sentiment"}},
            {},
            "list the names in data.label_names",
        ),
        ({"path": "r.jsonl", "columns": {"text": "sentence"}}, {"n_train": 95}, "n_train + n_eval = 115"),
        ({"path": "r.jsonl", "columns": {"text": "sentence"}, "label_names": ["neg"]}, {}, "are not listed"),
        ({"path": "missing.csv"}, {}, "cannot load it"),
        ({"path": "r.txt"}, {}, "use one format of .jsonl"),
        ({"path": "no-such-org/no-such-dataset"}, {}, "cannot load it"),
    ],
)
def test_bad_data_fails_with_the_field_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict, more: dict, message: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rows = _rows(100)
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "r.txt").write_text("x")
    path = _task(tmp_path, data, **more)
    code, _, err = run_cli("tasks", "validate", str(path))
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_labels_out_of_range_are_named(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps({**r, "label": 3}) for r in _rows(100)))
    task = load_task(_task(tmp_path, {"path": "r.jsonl", "columns": {"text": "sentence"}}))
    with pytest.raises(ConfigError, match="num_labels is 2 but the data has label 3"):
        task.examples()


def test_a_classification_task_needs_data_and_no_generator(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nkind: classification\nnum_labels: 2\nn_train: 4\nn_eval: 4\n")
    code, _, err = run_cli("tasks", "validate", str(path))
    assert code == 2 and "field 'data' is required; add it (where the data is: {path: HUB_ID_OR_FILE" in err
    path.write_text(
        "name: t\nkind: classification\ngenerator: negated_sentiment\nnum_labels: 2\nn_train: 4\nn_eval: 4\n"
        "data: {path: x.jsonl}\n"
    )
    code, _, err = run_cli("tasks", "validate", str(path))
    assert code == 2
    assert "unknown key 'generator' (a key of kind causal_lm_sft or generated or synthetic_regression" in err
