"""Compare beyond the default shape: several ranks, a minimized metric, FIFO, another sampler."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from lorasweep.store import Storage, TrialState

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow  # every test here starts Ray


def test_minimized_metric_over_two_ranks_with_fifo_and_random(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        TINY.read_text()
        .replace("ranks: [4]", "ranks: [2, 4]")
        .replace("scheduler: {name: asha, grace_period: 10, reduction_factor: 2}", "scheduler: {name: fifo}")
        .replace("sampler: {name: tpe}", "sampler: {name: random}")
        + "metric: {name: eval_loss}\n"
    )
    code, _, err = run_cli("compare", "--config", str(cfg), "--storage", url, "--name", "v", "--trials", "2")
    assert code == 0, err
    with Storage.open(url) as st:
        exp = st.experiment("v")
        studies = st.studies(exp.id)
        trials = st.trials(exp.id)
    assert sorted(s.optuna_study_name for s in studies) == sorted(
        f"v/{space}/r{r}" for space in ("lr_only", "lora_alpha") for r in (2, 4)
    )
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)  # FIFO prunes nothing
    assert {t.r for t in trials} == {2, 4}
    code, out, _ = run_cli("report", "--storage", url, "--json")  # one experiment: no --experiment needed
    doc = json.loads(out)
    assert doc["metric"] == "eval_loss" and doc["direction"] == "minimize"
    for name, space in doc["spaces"].items():
        assert sorted(space["optuna_studies"]) == [f"v/{name}/r2", f"v/{name}/r4"]
        assert space["n_trials"] == 4 and space["n_complete"] == 4
        bests = [optuna.load_study(study_name=n, storage=url).best_value for n in space["optuna_studies"]]
        assert space["best_value"] == min(bests)
        assert space["best_params"]["r"] in (2, 4)
    assert doc["target"]["value"] is None  # no target.value, no re-runs: no target from one search's best
