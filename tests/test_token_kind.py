"""A token-classification kind added by one test module (``tests/kind_token_tags.py``): an open
head, dataset columns that are lists (words, tags), the kind's own encoding and metric. It
validates from a file, passes the preflight, and a whole trial trains it to tag words far better
than the majority tag — with no lorasweep file edited for it."""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lorasweep import formatting as fmt
from lorasweep.api import TASK_KINDS, TaskBase
from lorasweep.config import experiment_from_dict, load_task
from lorasweep.errors import ConfigError
from lorasweep.metrics import METRICS, Direction
from lorasweep.scaling import LoraParams
from lorasweep.train.train import TrialEnd, check_setup, run_trial

from conftest import TINY

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"]
OTHERS = ["the", "car", "was", "a", "house", "with", "door", "old", "big", "small", "near", "tree", "on", "road"]


@pytest.fixture(scope="module")
def token_tags() -> Iterator[type[TaskBase]]:
    """The kind of tests/kind_token_tags.py, registered by importing its module (as a plugin
    would be); unregistered afterwards, so the rest of the suite sees the built-in kinds only."""
    module = importlib.import_module("kind_token_tags")
    cls = TASK_KINDS.register("token_tags", module.TokenTagsTask)
    METRICS.register("token_accuracy", module.TOKEN_ACCURACY)
    yield cls
    TASK_KINDS.remove("token_tags")
    METRICS.remove("token_accuracy")


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Sentences whose colour words are tagged 1, every other word 0."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(COLOURS if rng.random() < 0.4 else OTHERS) for _ in range(rng.randint(4, 8))]
        rows.append({"words": words, "labels": [int(w in COLOURS) for w in words]})
    return rows


def _task(folder: Path) -> dict[str, Any]:
    (folder / "tags.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(384, 0)))
    return {
        "name": "colours",
        "kind": "token_tags",
        "num_labels": 2,
        "n_train": 256,
        "n_eval": 64,
        "data": {"path": str(folder / "tags.jsonl"), "columns": {"tokens": "words", "tags": "labels"}},
    }


def test_the_kind_validates_from_a_file_and_names_its_columns(tmp_path: Path, token_tags: type[TaskBase]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(_task(tmp_path)))
    task = load_task(path)
    assert type(task) is token_tags and task.data.columns == {"tokens": "words", "tags": "labels"}
    bad = _task(tmp_path)
    bad["data"]["columns"]["text"] = "words"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"columns\.text is not read by a token_tags task \(it reads tokens, tags\)"):
        load_task(path)
    missing = _task(tmp_path)
    missing["data"]["columns"]["tags"] = "tag_ids"
    path.write_text(yaml.safe_dump(missing))
    with pytest.raises(ConfigError, match=r"data\.columns\.tags: no column 'tag_ids'; the data has words, labels"):
        load_task(path).check_data()


def test_its_metric_reads_as_declared(token_tags: type[TaskBase]) -> None:
    q = fmt.metric("token_accuracy")
    assert (q.label, q.fmt(0.91234)) == ("Token accuracy", "0.912")
    assert fmt.metric_word("token_accuracy") == "token accuracy"


def test_a_trial_of_the_added_kind_learns_to_tag(tmp_path: Path, token_tags: type[TaskBase]) -> None:
    raw = {
        "task": _task(tmp_path),
        "model": yaml.safe_load(TINY.read_text())["model"],
        "metric": {"name": "token_accuracy"},
        "ranks": [4],
        "spaces": ["lr_only"],
        "budget": {"trials": 1, "max_steps": 150, "eval_every": 50},
        "training": {"batch_size": 16, "eval_batch_size": 64, "device": "cpu", "lr_decay": "constant"},
        "scheduler": {"name": "fifo"},
    }
    exp = experiment_from_dict(str(tmp_path / "experiment.yaml"), raw, {})
    assert exp.metric.resolved_direction is Direction.MAXIMIZE
    check_setup(exp)
    work = exp.task.prepare_workload(exp.model)
    eval_tags = [t for r in _rows(320, 0)[256:] for t in r["labels"]]
    majority = max(eval_tags.count(0), eval_tags.count(1)) / len(eval_tags)
    reports: list[Any] = []
    outcome = run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-2), seed=0, report=reports.append, workload=work)
    assert outcome.end == TrialEnd.COMPLETE and [r.step for r in reports] == [50, 100, 150]
    assert all(set(r.metrics) == {"token_accuracy", "eval_loss"} for r in reports)
    # colour words are a closed set: a tagger that learned them is far above the majority tag
    assert outcome.final_metrics["token_accuracy"] > majority + 0.5 * (1 - majority), (majority, outcome.final_metrics)
