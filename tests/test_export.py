"""``lorasweep export``: the best adapter loads back with PEFT and scores what the trial reported;
the YAML written next to it re-runs the trial exactly."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
import yaml
from peft import PeftModel

from lorasweep.api import sequence_classification
from lorasweep.config import load_experiment
from lorasweep.store import Storage
from lorasweep.train.model import base_model

from conftest import run_cli

pytestmark = pytest.mark.slow  # every test here starts Ray


def test_exported_adapter_loads_and_scores_what_the_trial_reported(tiny_db: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tiny_db
    out = tmp_path / "adapter"
    code, stdout, err = run_cli(
        "export", "--storage", url, "--experiment", "tiny", "--space", "lr_only", "--out", str(out)
    )
    assert code == 0, err
    assert {"adapter_config.json", "adapter_model.safetensors", "experiment.yaml", "space.yaml", "trial.yaml"} <= {
        p.name for p in out.iterdir()
    }
    trial = yaml.safe_load((out / "trial.yaml").read_text())
    with Storage.open(url) as st:
        exp_record = st.experiment("tiny")
        stored = next(
            t
            for t in st.trials(exp_record.id)
            if t.optuna_number == trial["optuna_number"] and t.params == trial["params"]
        )
        reports = [r for r in st.reports(exp_record.id) if r.trial_id == stored.id]
    best_report = max(reports, key=lambda r: r.value)
    assert trial["best_value"] == stored.best_value == best_report.value

    exp = load_experiment(out / "experiment.yaml")
    model = PeftModel.from_pretrained(base_model(exp.model, trial["seed"], head=sequence_classification(2)), out)
    work = exp.task.prepare_workload(exp.model)
    metrics = work.evaluate(model, 128, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    assert metrics["accuracy"] == pytest.approx(best_report.metrics["accuracy"])
    assert metrics["eval_loss"] == pytest.approx(best_report.metrics["eval_loss"], rel=1e-4)

    # the command in trial.yaml re-runs the trial: same final value
    args = shlex.split(trial["reproduce"])[1:]
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    end = json.loads(stdout.strip().splitlines()[-1])
    assert end["final"]["accuracy"] == pytest.approx(stored.final_value)


def test_export_refuses_unknown_spaces_and_used_folders(tiny_db: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = tiny_db
    code, _, err = run_cli(
        "export", "--storage", url, "--experiment", "tiny", "--space", "nope", "--out", str(tmp_path / "a")
    )
    assert code == 2 and "has no such space; it has lr_only, lora_alpha" in err
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    code, _, err = run_cli("export", "--storage", url, "--experiment", "tiny", "--space", "lr_only", "--out", str(used))
    assert code == 2 and "not empty" in err and (used / "keep.txt").read_text() == "mine"
