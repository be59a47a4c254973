"""Task kinds as units: the registry, the contract every registered kind passes (schema round trip,
metrics with directions, a workload that makes batches and evaluates every declared metric on a
tiny model, offline), stored configs of the single-schema era, and a kind added by one module of
this test suite (``kind_linear_shift``) that runs a whole trial without any other file edited."""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from lorasweep.api import TASK_KINDS, TaskBase, task_kind
from lorasweep.config import ExperimentConfig, experiment_from_dict, load_task, parse_task
from lorasweep.errors import ConfigError
from lorasweep.metrics import METRICS, Direction, Metric
from lorasweep.scaling import LoraParams
from lorasweep.train.train import TrialEnd, check_setup, run_trial

from causal_lm import save_tiny_causal_lm
from conftest import DATA, TINY, run_cli

BUILTIN = ["causal_lm_sft", "classification", "generated", "python", "synthetic_regression"]
#: Kinds whose trials run the user's own code (no workload to contract-test here: tests/test_byo.py)
USER_CODE = {"python"}
TINY_BERT = yaml.safe_load(TINY.read_text())["model"]


@pytest.fixture(scope="module")
def linear_shift() -> Iterator[type[TaskBase]]:
    """The kind of tests/kind_linear_shift.py, registered by importing its module (as a plugin
    would be); unregistered afterwards, so the rest of the suite sees the built-in kinds only."""
    module = importlib.import_module("kind_linear_shift")
    cls = TASK_KINDS.register("linear_shift", module.LinearShiftTask)  # again, if an earlier module removed it
    METRICS.register("mae", module.MAE)
    yield cls
    TASK_KINDS.remove("linear_shift")
    METRICS.remove("mae")


# ---------------------------------------------------------------------------------------------
# One small experiment of each kind, offline


def _generated(folder: Path) -> dict[str, Any]:
    return {"task": yaml.safe_load(TINY.read_text())["task"], "model": TINY_BERT}


def _classification(folder: Path) -> dict[str, Any]:
    rows = [{"sentence": f"the film was {'good' if i % 2 else 'bad'} {i}", "y": i % 2} for i in range(64)]
    (folder / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {
        "name": "reviews",
        "kind": "classification",
        "num_labels": 2,
        "n_train": 32,
        "n_eval": 16,
        "max_length": 16,
        "data": {"path": str(folder / "reviews.jsonl"), "columns": {"text": "sentence", "label": "y"}},
    }
    return {"task": task, "model": TINY_BERT}


def _synthetic_regression(folder: Path) -> dict[str, Any]:
    params = {"in_features": 4, "width": 8, "depth": 2, "shift_rank": 2, "pretrain_steps": 20}
    task = {"name": "mlp", "kind": "synthetic_regression", "n_train": 64, "n_eval": 32, "params": params}
    return {"task": task, "model": {"name_or_path": "builtin:mlp", "target_modules": ["layers.0", "layers.1"]}}


def _causal_lm_sft(folder: Path) -> dict[str, Any]:
    save_tiny_causal_lm(folder / "lm")
    rows = [{"q": f"What is {i} + 1?", "a": f"#### {i + 1}"} for i in range(48)]
    (folder / "sums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {
        "name": "sums",
        "kind": "causal_lm_sft",
        "n_train": 32,
        "n_eval": 8,
        "max_length": 32,
        "max_new_tokens": 4,
        "data": {"path": str(folder / "sums.jsonl"), "columns": {"prompt": "q", "completion": "a"}},
        "answer": {"rule": "after_marker"},
    }
    return {"task": task, "model": {"name_or_path": str(folder / "lm"), "target_modules": "all-linear"}}


def _linear_shift(folder: Path) -> dict[str, Any]:
    task = {"name": "lin", "kind": "linear_shift", "n_train": 256, "n_eval": 64, "features": 8}
    return {"task": task, "model": {"name_or_path": "builtin:linear", "target_modules": ["layers.0"]}}


EXAMPLES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "causal_lm_sft": _causal_lm_sft,
    "classification": _classification,
    "generated": _generated,
    "synthetic_regression": _synthetic_regression,
    "linear_shift": _linear_shift,
}


def _experiment(folder: Path, kind: str, **overrides: Any) -> ExperimentConfig:
    raw = {
        **EXAMPLES[kind](folder),
        "ranks": [2],
        "spaces": ["lr_only"],
        "budget": {"trials": 1, "max_steps": 4, "eval_every": 2},
        "training": {"batch_size": 8, "eval_batch_size": 16, "device": "cpu", "diagnostics_every": 1},
        "scheduler": {"name": "fifo"},
    }
    raw["metric"] = {"name": parse_task(raw["task"]).metric_names[0]}
    return experiment_from_dict(str(folder / "experiment.yaml"), raw, overrides)


# ---------------------------------------------------------------------------------------------
# The registry


def test_the_builtin_kinds_are_registered_and_every_registered_kind_has_an_example() -> None:
    assert set(BUILTIN) <= set(TASK_KINDS.names()) <= set(EXAMPLES) | USER_CODE


def test_tasks_kinds_lists_each_kind_with_its_metrics_and_directions() -> None:
    code, out, err = run_cli("tasks", "kinds")
    assert code == 0, err
    lines = dict(line.split(maxsplit=1) for line in out.splitlines())
    assert list(lines) == BUILTIN
    assert lines["generated"] == "accuracy (maximize), f1 (maximize), eval_loss (minimize)"
    assert lines["causal_lm_sft"] == "eval_loss (minimize), perplexity (minimize), exact_match (maximize)"
    assert lines["python"] == "declared by each task (metrics: [{name, direction}])"


def test_an_unknown_kind_lists_the_registered_ones(tmp_path: Path, linear_shift: type[TaskBase]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nkind: hub\nn_train: 4\nn_eval: 4\n")
    with pytest.raises(ConfigError, match=r"field 'kind': unknown task kind; valid task kinds: causal_lm_sft, "):
        load_task(path)
    with pytest.raises(ConfigError, match=r"linear_shift, python, synthetic_regression; pick one \(got 'hub'\)"):
        load_task(path)


def test_a_kind_must_implement_the_unit_and_declare_metrics() -> None:
    from typing import Literal

    class Half(TaskBase):
        kind: Literal["half"]

    with pytest.raises(TypeError, match=r"task kind half .* does not implement check_data, check_setup, prepare"):
        task_kind(Half)

    class NoMetrics(Half):
        kind: Literal["no_metrics"]  # type: ignore[assignment]

        def check_data(self) -> None: ...
        def check_setup(self, exp: Any) -> None: ...
        def prepare_workload(self, model: Any) -> Any: ...

    with pytest.raises(TypeError, match="declares no metrics"):
        task_kind(NoMetrics)

    class Flipped(NoMetrics):
        kind: Literal["flipped"]  # type: ignore[assignment]
        metrics = (Metric(name="accuracy", direction=Direction.MINIMIZE),)

    with pytest.raises(ValueError, match="metric 'accuracy' is already registered to maximize"):
        task_kind(Flipped)

    class Taken(NoMetrics):
        kind: Literal["generated"]  # type: ignore[assignment]
        metrics = (Metric(name="accuracy", direction=Direction.MAXIMIZE),)

    with pytest.raises(ValueError, match=r"task kind 'generated' is already registered \(by GeneratedTask\)"):
        task_kind(Taken)
    assert not {"half", "no_metrics", "flipped"} & set(TASK_KINDS.names())


# ---------------------------------------------------------------------------------------------
# The contract every registered kind passes


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_every_kind_keeps_the_contract(kind: str, tmp_path: Path, linear_shift: type[TaskBase]) -> None:
    exp = _experiment(tmp_path, kind)
    task = exp.task
    assert task.kind == kind and type(task) is TASK_KINDS.get(kind)

    # schema: the task and the experiment round-trip through their dumps (what the store keeps)
    assert parse_task(task.model_dump(mode="json")) == task
    assert parse_task(task.model_dump_json()) == task
    assert ExperimentConfig.model_validate_json(exp.model_dump_json()) == exp
    shown = tmp_path / "shown.yaml"  # what `tasks show` prints is a valid task file
    shown.write_text(yaml.safe_dump(task.model_dump(mode="json")))
    assert load_task(shown) == task

    # metrics: declared once each, with the direction the metric registry gives every kind
    names = task.metric_names
    assert names and len(set(names)) == len(names)
    for m in task.metrics:
        assert METRICS.get(m.name).direction is m.direction
        chosen = _experiment(tmp_path, kind, **{"metric.name": m.name})
        assert chosen.metric.resolved_direction is m.direction
    other = next(m for m in METRICS.names() if m not in names)
    with pytest.raises(ConfigError, match=f"metric.name {other} is not reported by a {kind} task; use one of"):
        _experiment(tmp_path, kind, **{"metric.name": other})

    # checks: the data and the setup (on the meta device) pass
    task.check_data()
    check_setup(exp)

    # workload: batches that train a LoRA model, and every declared metric evaluated
    work = task.prepare_workload(exp.model)
    assert work.metric_names == names
    model = work.with_lora(exp.model, 0, LoraParams(rank=2, alpha=4.0, lr=1e-3))
    batch = next(work.train_batches(8, seed=0))
    assert batch.examples > 0 and batch.tokens >= batch.examples
    loss = model(**batch.inputs).loss
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    metrics = work.evaluate(model, 16, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    assert set(metrics) == set(names)
    assert all(math.isfinite(v) for v in metrics.values()), metrics

    # the test split: every declared metric on examples disjoint from the eval split, said how made
    tested = work.evaluate_test(model, 16, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    assert tested is not None and set(tested) == set(names)
    assert all(math.isfinite(v) for v in tested.values()), tested
    assert str(task.test_size) in task.test_source()


# ---------------------------------------------------------------------------------------------
# A kind added by one module of the test suite


def test_an_added_kind_validates_from_a_file(tmp_path: Path, linear_shift: type[TaskBase]) -> None:
    path = tmp_path / "lin.yaml"
    path.write_text("name: lin\nkind: linear_shift\nn_train: 64\nn_eval: 16\nfeatures: 4\n")
    code, out, err = run_cli("tasks", "validate", str(path))
    assert code == 0 and out == "ok: task lin (linear_shift, 64 train / 16 eval)\n", err
    path.write_text("name: lin\nkind: linear_shift\nn_train: 64\nn_eval: 16\nnum_labels: 2\n")
    code, _, err = run_cli("tasks", "validate", str(path))
    assert code == 2 and "unknown key 'num_labels' (a key of kind classification or generated, not linear_shift)" in err
    with pytest.raises(ConfigError, match=r"builds its own model; set model\.name_or_path: builtin:linear"):
        _experiment(tmp_path, "linear_shift", **{"model.name_or_path": "builtin:mlp"})


def test_an_added_kind_runs_a_trial_and_learns(tmp_path: Path, linear_shift: type[TaskBase]) -> None:
    exp = _experiment(
        tmp_path,
        "linear_shift",
        **{
            "budget.max_steps": 120,
            "budget.eval_every": 40,
            "training.batch_size": 32,
            "training.warmup_ratio": 0.0,
            "training.lr_decay": "constant",
        },
    )
    assert exp.metric.name == "mae" and exp.metric.resolved_direction is Direction.MINIMIZE
    check_setup(exp)
    work = exp.task.prepare_workload(exp.model)
    untrained = work.evaluate(
        work.with_lora(exp.model, 0, LoraParams(rank=1, alpha=2.0, lr=1e-3)),
        64,
        torch.device("cpu"),
        torch.autocast("cpu", enabled=False),
    )
    reports: list[Any] = []
    outcome = run_trial(exp, LoraParams(rank=1, alpha=2.0, lr=3e-2), seed=0, report=reports.append, workload=work)
    assert outcome.end == TrialEnd.COMPLETE and [r.step for r in reports] == [40, 80, 120]
    assert all(set(r.metrics) == {"mae", "eval_loss"} for r in reports)
    assert outcome.final_metrics["mae"] < 0.2 * untrained["mae"]  # a rank-1 shift of a linear map: LoRA fits it
    assert all(math.isfinite(r.drift_ratio) for r in reports)  # the diagnostics see its LoRA module


# ---------------------------------------------------------------------------------------------
# Configs stored before task kinds were units


STORED = json.loads((DATA / "stored_configs.json").read_text())


@pytest.mark.parametrize("key", sorted(STORED))
def test_configs_stored_by_the_single_task_schema_still_load(key: str) -> None:
    """Every task field was written for every kind, unused ones at their 'unset' value."""
    raw = STORED[key]
    if key.startswith("task:"):
        task = parse_task(raw)
        assert task.name == raw["name"] and task.kind == raw["kind"]
        expected = {"n_test": None, **{k: v for k, v in raw.items() if k in type(task).model_fields}}  # + later fields
        if "data" in expected:  # the one shared column map: the kind keeps the roles it reads
            read = task.model_dump()["data"]["columns"]
            columns = {k: expected["data"]["columns"][k] for k in read}
            expected["data"] = {"test_split": None, **expected["data"], "columns": columns}
            assert set(read) < set(raw["data"]["columns"])
        assert task.model_dump(mode="json") == expected
    else:
        exp = ExperimentConfig.model_validate(raw)
        assert exp.task.kind == raw["task"]["kind"] and exp.metric.name == raw["metric"]["name"]


def test_a_legacy_key_with_a_value_is_still_an_error() -> None:
    raw = {**STORED["task:negated_sentiment"], "packing": True}
    with pytest.raises(ValueError, match="packing"):
        parse_task(raw)


def test_reports_store_every_metric_the_kind_declares(tmp_path: Path, linear_shift: type[TaskBase]) -> None:
    """The store callback keeps each report's metrics as the task's kind declares them: a kind's
    own metric (mae) too, and nothing it does not declare."""
    from types import SimpleNamespace

    from lorasweep.search.plan import StudyPlan, StudyRun
    from lorasweep.search.ray_adapter.callbacks import StoreCallback
    from lorasweep.search.ray_adapter.keys import STUDY
    from lorasweep.space.resolve import at_rank
    from lorasweep.store import Storage

    exp = _experiment(tmp_path, "linear_shift")
    plan = StudyPlan(space=at_rank(exp.spaces[0], 2, exp.effective_step), rank=2, study_name="e/lr_only/r2")
    with Storage.open(f"sqlite:///{tmp_path / 'k.db'}", create=True) as st:
        st.upgrade()
        record = st.create_experiment("e", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=2,
            optuna_study_name=plan.study_name,
            metric="mae",
            direction=Direction.MINIMIZE,
            space_config={},
        )
        run = StudyRun(plan=plan, study_id=study.id, trials=1)
        store = StoreCallback(st, [run], 0, "mae", Direction.MINIMIZE, 0.0, reported=exp.task.metric_names)
        trial = SimpleNamespace(trial_id="t1", config={STUDY: plan.study_name, "lr": 1e-3}, checkpoint=None)
        result = {"step": 2, "examples": 16, "tokens": 16, "device_seconds": 0.1, "train_loss": 0.5, "lr": 1e-3}
        result |= {"mae": 0.3, "eval_loss": 0.2, "accuracy": 0.9, "end": "complete"}
        store.on_trial_start(0, [], trial)
        store.on_trial_result(0, [], trial, result)
        trial.last_result = result
        store.on_trial_complete(0, [], trial)
        (report,) = st.reports(record.id)
        (stored,) = st.trials(record.id)
    assert report.metrics == {"mae": 0.3, "eval_loss": 0.2} and report.value == 0.3
    assert stored.final_value == 0.3
