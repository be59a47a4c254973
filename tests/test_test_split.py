"""Every task has a test split disjoint from the eval split the search selects on: rows held out of
the train split with ``data_seed`` (or a named ``data.test_split``), a third draw for generated
tasks. Seed re-runs and ablation points evaluate it once at their end and store ``test_value``
(migration 0011); ``trials_dataframe()``, ``export`` and the report show it, labelled."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from lorasweep.config import experiment_from_dict, parse_task
from lorasweep.errors import ConfigError
from lorasweep.kinds.disjoint import draw_unseen
from lorasweep.scaling import LoraParams
from lorasweep.store import ReportRecord, Storage, TrialFinish, TrialKind, TrialStart, TrialState
from lorasweep.train.sources import load_columns, load_test_columns
from lorasweep.train.train import TrialEnd, run_trial

from conftest import TINY, run_cli
from factories import lora_params

#: How the tiny task's test split was made (TINY: generated, n_eval 128, data_seed 0).
TINY_TEST = "generated: 128 examples of a draw of their own (data_seed 0), none a train or eval example"


def _rows(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{i}", "text": f"the film {prefix} {i} was {'good' if i % 2 else 'bad'}", "label": i % 2}
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _task(data: dict[str, Any], **more: Any) -> Any:
    raw = {"name": "t", "kind": "classification", "num_labels": 2, "n_train": 40, "n_eval": 20, "data": data}
    return parse_task({**raw, **more})


def _ids(task: Any) -> tuple[list[str], list[str], list[str]]:
    columns = {"id": "id"}
    train, evaluation = load_columns(task, columns)
    return train["id"], evaluation["id"], load_test_columns(task, columns)["id"]


# ---------------------------------------------------------------------------------------------
# Data tasks: held out of train, or a named split


def test_held_out_test_rows_are_disjoint_and_leave_the_train_and_eval_rows_as_they_were(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", _rows(100))
    task = _task({"path": path, "columns": {"text": "text"}}, n_test=25, data_seed=3)
    train, evaluation, test = _ids(task)
    assert (len(train), len(evaluation), len(test)) == (40, 20, 25)
    assert not set(test) & set(evaluation) and not set(test) & set(train) and not set(train) & set(evaluation)
    order = list(range(100))
    random.Random(3).shuffle(order)  # the draw of a task without a test split: train first, then eval
    assert train == [f"r{i}" for i in order[:40]] and evaluation == [f"r{i}" for i in order[40:60]]
    assert test == [f"r{i}" for i in order[60:85]]
    assert task.test_source() == "held out 25 rows of train with data_seed 3"
    default = _task({"path": path, "columns": {"text": "text"}})
    assert len(_ids(default)[2]) == 20 and default.test_size == 20  # n_test defaults to n_eval
    examples = task.test_examples()  # the kind's own reading: texts and label ids
    assert len(examples.texts) == 25 and set(examples.labels) == {0, 1}


def test_a_named_test_split_and_a_test_split_shared_with_the_eval_split(tmp_path: Path) -> None:
    files = {
        "train": _write(tmp_path / "train.jsonl", _rows(60, "a")),
        "validation": _write(tmp_path / "validation.jsonl", _rows(50, "v")),
        "test": _write(tmp_path / "test.jsonl", _rows(30, "t")),
    }
    named = _task({"data_files": files, "eval_split": "validation", "test_split": "test", "columns": {"text": "text"}})
    train, evaluation, test = _ids(named)
    assert {i[0] for i in train} == {"a"} and {i[0] for i in evaluation} == {"v"} and {i[0] for i in test} == {"t"}
    assert len(test) == 20 == len(set(test))
    assert named.test_source() == "split test: 20 rows (data_seed 0)"

    shared = _task(
        {"data_files": files, "eval_split": "validation", "test_split": "validation", "columns": {"text": "text"}}
    )
    train, evaluation, test = _ids(shared)
    assert {i[0] for i in test} == {"v"} and len(test) == 20 and not set(test) & set(evaluation)
    assert "rows other than the eval rows" in shared.test_source()

    held = _task({"data_files": files, "eval_split": "validation", "columns": {"text": "text"}})  # test out of train
    train, evaluation, test = _ids(held)
    assert {i[0] for i in test} == {"a"} and not set(test) & set(train) and len(test) == 20


@pytest.mark.parametrize(
    ("data", "more", "message"),
    [
        ({}, {"n_test": 41}, "task n_test: 41 test rows held out of split 'train' need 101 rows"),
        ({}, {}, None),  # 40 + 20 + 20 of 100: fits
        ({"eval_split": "validation"}, {"n_test": 61}, "task n_test: 61 test rows held out of split 'train'"),
        (
            {"eval_split": "validation", "test_split": "test"},
            {"n_test": 31},
            "task n_test: 31 test rows but split 'test' has 30",
        ),
        (
            {"eval_split": "validation", "test_split": "validation"},
            {"n_test": 31},
            "task n_test: split 'validation' holds the 20 eval and 31 test rows, but has 50",
        ),
        ({"test_split": "dev"}, {}, "data.test_split: no split 'dev'"),
        ({"test_split": "train"}, {}, "test_split 'train' is the train split"),
    ],
)
def test_too_few_rows_for_the_test_split_is_one_line_naming_the_field(
    tmp_path: Path, data: dict[str, Any], more: dict[str, Any], message: str | None
) -> None:
    files = {
        "train": _write(tmp_path / "train.jsonl", _rows(100 if "eval_split" not in data else 60, "a")),
        "validation": _write(tmp_path / "validation.jsonl", _rows(50, "v")),
        "test": _write(tmp_path / "test.jsonl", _rows(30, "t")),
    }
    doc = {"name": "t", "kind": "classification", "num_labels": 2, "n_train": 40, "n_eval": 20, **more}
    doc["data"] = {"data_files": files, "columns": {"text": "text"}, **data}
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, _, err = run_cli("tasks", "validate", str(path))
    if message is None:
        assert code == 0, err
        return
    assert code == 2 and message in err and err.count("\n") == 1, err


# ---------------------------------------------------------------------------------------------
# Generated tasks: a third draw


def test_generated_tasks_draw_a_third_disjoint_set_and_keep_their_train_and_eval_examples() -> None:
    tiny = yaml.safe_load(TINY.read_text())["task"]
    task = parse_task({**tiny, "n_test": 200})
    train, evaluation = task.examples()
    test = task.test_examples()
    assert len(test.texts) == 200 and not set(test.texts) & (set(evaluation.texts) | set(train.texts))
    before, _ = parse_task(tiny).examples(), None  # a task without n_test: the same train and eval examples
    assert before[0] == train and before[1] == evaluation
    assert task.test_source() == TINY_TEST.replace("128", "200")

    sft = parse_task({"name": "i", "kind": "causal_lm_sft", "generator": "instructions", "n_train": 64, "n_eval": 16})
    (sft_train, sft_eval), sft_test = sft.pairs(), sft.test_pairs()
    assert len(sft_test) == 16 and not set(sft_test.prompts) & (set(sft_eval.prompts) | set(sft_train.prompts))


def test_a_regression_task_draws_its_test_inputs_after_everything_else() -> None:
    from lorasweep.train import synthetic

    params = {"in_features": 4, "width": 8, "depth": 2, "shift_rank": 2, "pretrain_steps": 5}
    with_test = synthetic.mlp_shift(params, "m", 64, 32, 0, 48)
    without = synthetic.mlp_shift(params, "m", 64, 32, 0)  # default n_test: n_eval
    assert torch.equal(with_test.eval_x, without.eval_x) and torch.equal(with_test.train_x, without.train_x)
    assert with_test.test_x.shape == (48, 4) and without.test_x.shape == (32, 4)
    assert not (with_test.test_x[:, None, :] == with_test.eval_x[None, :, :]).all(-1).any()


def test_a_generator_with_too_few_unseen_examples_is_an_error_naming_n_test() -> None:
    def draw(n: int) -> tuple[list[str], list[int]]:
        return [f"t{i % 5}" for i in range(n)], [0] * n  # five distinct texts

    seen = {"t0", "t1", "t2", "t3", "t4"}
    with pytest.raises(ConfigError, match=r"task n_test: the generator made only 0 texts unlike the train and eval"):
        draw_unseen(draw, seen, 4)
    texts, _ = draw_unseen(draw, seen - {"t3"}, 2)
    assert texts == ["t3", "t3"]  # the draws whose text is not a train or eval text


# ---------------------------------------------------------------------------------------------
# The trial evaluates it at its end when asked; the store keeps it


def _regression_experiment(tmp_path: Path) -> Any:
    params = {"in_features": 4, "width": 8, "depth": 2, "shift_rank": 2, "pretrain_steps": 20}
    raw = {
        "task": {
            "name": "mlp",
            "kind": "synthetic_regression",
            "n_train": 64,
            "n_eval": 32,
            "n_test": 16,
            "params": params,
        },
        "model": {"name_or_path": "builtin:mlp", "target_modules": ["layers.0", "layers.1"]},
        "ranks": [2],
        "spaces": ["lr_only"],
        "metric": {"name": "eval_loss"},
        "budget": {"trials": 1, "max_steps": 6, "eval_every": 3},
        "training": {"batch_size": 8, "eval_batch_size": 16, "device": "cpu"},
        "scheduler": {"name": "fifo"},
    }
    return experiment_from_dict(str(tmp_path / "e.yaml"), raw)


def test_run_trial_evaluates_the_test_split_once_at_the_end_only_when_asked(tmp_path: Path) -> None:
    exp = _regression_experiment(tmp_path)
    work = exp.task.prepare_workload(exp.model)
    lora = LoraParams(rank=2, alpha=4.0, lr=1e-3)
    searched: list[Any] = []
    run_trial(exp, lora, seed=0, report=searched.append, workload=work)
    assert [r.test_metrics for r in searched] == [None, None]  # a search trial: never
    rerun: list[Any] = []
    outcome = run_trial(exp, lora, seed=0, report=rerun.append, workload=work, test=True)
    assert outcome.end == TrialEnd.COMPLETE and rerun[0].test_metrics is None
    last = rerun[-1]
    assert set(last.test_metrics) == {"eval_loss"} and math.isfinite(last.test_metrics["eval_loss"])
    assert last.metrics == searched[-1].metrics  # the eval split's value is unchanged by the test evaluation
    assert last.test_metrics["eval_loss"] != last.metrics["eval_loss"]  # other examples
    assert last.as_dict()["test/eval_loss"] == last.test_metrics["eval_loss"]


def _experiment_row(st: Storage) -> tuple[int, int]:
    record = st.create_experiment("e", "", {})
    study = st.add_study(
        record.id,
        space="lr_only",
        rank=4,
        optuna_study_name="e/lr_only/r4",
        metric="accuracy",
        direction=_maximize(),
        space_config={},
    )
    return record.id, study.id


def _maximize() -> Any:
    from lorasweep.metrics import Direction

    return Direction.MAXIMIZE


def _finish(value: float, test: dict[str, float] | None) -> TrialFinish:
    report = ReportRecord(
        trial_id=0,
        step=20,
        value=value,
        train_loss=0.5,
        lr=1e-3,
        examples=320,
        tokens=3200,
        device_seconds=1.0,
        metrics={"accuracy": value},
    )
    return TrialFinish(
        state=TrialState.COMPLETE,
        final_value=value,
        best_value=value,
        steps=20,
        diverged_step=None,
        error=None,
        device_seconds=1.0,
        wall_seconds=1.0,
        examples=320,
        tokens=3200,
        reports=(report,),
        test_value=test.get("accuracy") if test else None,
        test_metrics=test,
    )


def test_migration_0011_adds_the_test_value_and_keeps_every_row_both_ways(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import MetaData, func, select
    from test_store import _old_study, _old_trial

    from lorasweep.store.migrate import alembic_config

    with Storage.open(db_url, create=True) as st:
        st.upgrade("0010")
        exp = st.create_experiment("e", "", {})
        study = _old_study(st, exp.id)
        old = _old_trial(st, study, state="complete", final_value=0.7, best_value=0.7)  # written without the ORM
        st.upgrade()
        assert st.schema_revision() == "0011"
        (kept,) = st.trials(exp.id)
        assert kept.id == old and kept.final_value == 0.7 and kept.test_value is None and kept.test_metrics is None
        new = st.start_trial(
            TrialStart(
                study_id=study,
                ray_trial_id="n",
                optuna_number=None,
                params={},
                lora=lora_params(),
                seed=1,
                kind=TrialKind.SEEDS,
            )
        )
        st.finish_trial(new, _finish(0.8, {"accuracy": 0.75, "f1": 0.7}))
        tested = {t.id: t for t in st.trials(exp.id)}[new]
        assert tested.test_value == 0.75 and tested.test_metrics == {"accuracy": 0.75, "f1": 0.7}

        cfg = alembic_config()
        with st.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0010")
        meta = MetaData()
        meta.reflect(st.engine, only=["lorasweep_trials", "lorasweep_reports"])
        trials, reports = meta.tables["lorasweep_trials"], meta.tables["lorasweep_reports"]
        assert "test_value" not in trials.c and "test_metrics" not in trials.c
        with st.engine.connect() as conn:
            rows = {r.id: r.final_value for r in conn.execute(select(trials.c.id, trials.c.final_value))}
            n_reports = conn.execute(select(func.count()).select_from(reports)).scalar_one()
        assert rows == {old: 0.7, new: 0.8} and n_reports == 1
        st.upgrade()  # and up again
        assert {t.id: t.test_value for t in st.trials(exp.id)} == {old: None, new: None}


def test_the_store_callback_keeps_the_last_reports_test_metrics(tmp_path: Path) -> None:
    """What the Ray adapter stores from a re-run's results (no Ray started: the callback's hooks)."""
    from types import SimpleNamespace

    from lorasweep.search.plan import StudyPlan, StudyRun
    from lorasweep.search.ray_adapter.callbacks import StoreCallback
    from lorasweep.search.ray_adapter.keys import SEED, STUDY, evaluates_test
    from lorasweep.space.resolve import at_rank

    exp = _regression_experiment(tmp_path)
    plan = StudyPlan(
        space=at_rank(exp.spaces[0], 2, exp.effective_step), rank=2, study_name="e/lr_only/r2", kind=TrialKind.SEEDS
    )
    with Storage.open(f"sqlite:///{tmp_path / 'k.db'}", create=True) as st:
        st.upgrade()
        record = st.create_experiment("e", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=2,
            optuna_study_name=plan.study_name,
            metric="eval_loss",
            direction=exp.metric.resolved_direction,
            space_config={},
        )
        store = StoreCallback(
            st,
            [StudyRun(plan=plan, study_id=study.id, trials=2)],
            0,
            "eval_loss",
            exp.metric.resolved_direction,
            0.0,
            reported=("eval_loss",),
        )
        base = {"examples": 16, "tokens": 16, "device_seconds": 0.1, "train_loss": 0.5, "lr": 1e-3}
        for tid, test in (("t1", {"test/eval_loss": 0.42}), ("t2", {})):
            config = {STUDY: plan.study_name, "lr": 1e-3, SEED: 1}
            assert evaluates_test(config) and not evaluates_test({STUDY: plan.study_name, "lr": 1e-3})
            trial = SimpleNamespace(trial_id=tid, config=config, checkpoint=None)
            store.on_trial_start(0, [], trial)
            store.on_trial_result(0, [], trial, {**base, "step": 3, "eval_loss": 0.6})
            last = {**base, "step": 6, "eval_loss": 0.5, "end": "complete", **test}
            store.on_trial_result(0, [], trial, last)
            trial.last_result = last
            store.on_trial_complete(0, [], trial)
        stored = {t.ray_trial_id: t for t in st.trials(record.id)}
    assert stored["t1"].test_value == 0.42 and stored["t1"].test_metrics == {"eval_loss": 0.42}
    assert stored["t1"].final_value == 0.5  # the eval split's value, as before
    assert stored["t2"].test_value is None and stored["t2"].test_metrics is None


def test_a_python_tasks_callable_reports_its_test_metrics_with_the_last_evaluation(tmp_path: Path) -> None:
    from test_byo import Sent, scripted

    from lorasweep.train.user_runner import make_trial

    exp = experiment_from_dict(str(tmp_path / "e.yaml"), scripted(tmp_path))
    sent = Sent()
    trial = make_trial(exp, lora_params(), 1, space="lr_only", number=None, send=sent, evaluate_test=True)
    assert trial.evaluate_test
    with pytest.raises(ValueError, match=r"the test metrics go with the evaluation at max_steps 20"):
        trial.report(10, {"score": 0.5, "other": 0.1}, test={"score": 0.4})
    trial.report(10, {"score": 0.5, "other": 0.1})
    trial.report(20, {"score": 0.6, "other": 0.2}, test={"score": 0.55, "other": 0.15, "extra": 1.0})
    trial._reporter.finish(None)
    assert [r.test_metrics for r in sent.reports] == [None, {"score": 0.55, "other": 0.15}]
    assert "cannot check that it is disjoint" in exp.task.test_source()


# ---------------------------------------------------------------------------------------------
# What users read: trials_dataframe, export, the report


def test_trials_dataframe_and_the_report_show_the_test_split(tmp_path: Path) -> None:
    import lorasweep

    url = f"sqlite:///{tmp_path / 'r.db'}"
    raw = yaml.safe_load(TINY.read_text())
    exp = experiment_from_dict(str(TINY), raw)
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("e", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="e/lr_only/r4",
            metric="accuracy",
            direction=_maximize(),
            space_config={},
        )
        search = st.start_trial(
            TrialStart(
                study_id=study.id, ray_trial_id="s", optuna_number=0, params={"lr": 1e-3}, lora=lora_params(), seed=0
            )
        )
        st.finish_trial(search, _finish(0.8, None))
        for seed, test in ((1, 0.7), (2, 0.74)):
            rerun = st.start_trial(
                TrialStart(
                    study_id=study.id,
                    ray_trial_id=f"r{seed}",
                    optuna_number=None,
                    params={"lr": 1e-3},
                    lora=lora_params(),
                    seed=seed,
                    kind=TrialKind.SEEDS,
                )
            )
            st.finish_trial(rerun, _finish(0.8, {"accuracy": test, "f1": test - 0.1}))
    res = lorasweep.load(url, "e")
    df = res.trials_dataframe()
    assert {"test_value", "test_accuracy", "test_f1"} <= set(df.columns)
    by_kind = df.set_index("seed")
    assert math.isnan(by_kind.loc[0, "test_value"])  # the search trial: selected on eval, never tested
    assert by_kind.loc[1, "test_value"] == 0.7 and by_kind.loc[2, "test_f1"] == pytest.approx(0.64)
    assert res.test_split == TINY_TEST
    assert res.report["test_split"]["how"] == res.test_split
    assert res.report["spaces"]["lr_only"]["test"] == {"n": 2, "median": pytest.approx(0.72), "values": [0.7, 0.74]}
    code, out, err = run_cli("report", "--storage", url)
    text = " ".join(out.split())
    assert code == 0, err
    assert "Best accuracy (eval split, selected on)" in text
    assert f"Test split: {TINY_TEST}." in text
    assert "0.720 (n = 2 of 2)" in text


def test_export_states_the_eval_value_and_the_reruns_test_values(tmp_path: Path) -> None:
    from lorasweep.export import export_best

    url = f"sqlite:///{tmp_path / 'x.db'}"
    exp = experiment_from_dict(str(TINY), yaml.safe_load(TINY.read_text()))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("e", "", exp.model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="e/lr_only/r4",
            metric="accuracy",
            direction=_maximize(),
            space_config={"name": "lr_only"},
        )
        search = st.start_trial(
            TrialStart(
                study_id=study.id, ray_trial_id="s", optuna_number=0, params={"lr": 1e-3}, lora=lora_params(), seed=0
            )
        )
        st.finish_trial(search, dataclasses.replace(_finish(0.8, None), checkpoint=str(adapter)))
        rerun = st.start_trial(
            TrialStart(
                study_id=study.id,
                ray_trial_id="r",
                optuna_number=None,
                params={"lr": 1e-3},
                lora=lora_params(),
                seed=1,
                kind=TrialKind.SEEDS,
            )
        )
        st.finish_trial(rerun, _finish(0.78, {"accuracy": 0.71}))
        export_best(st, "e", "lr_only", tmp_path / "out")
    trial = yaml.safe_load((tmp_path / "out" / "trial.yaml").read_text())
    assert trial["final_value"] == 0.8 and trial["values_measured_on"].startswith("eval split")
    assert trial["test"] == {
        "split": TINY_TEST,
        "seed_reruns": [{"seed": 1, "test_value": 0.71}],
    }


@pytest.mark.slow
def test_seed_reruns_store_their_test_value_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = ["compare", "--config", str(TINY), "--storage", url, "--name", "s", "--trials", "2", "--max-steps", "10"]
    code, out, err = run_cli(*args, "--seeds", "2")
    assert code == 0, err
    with Storage.open(url) as st:
        trials = st.trials(st.experiment("s").id)
    search = [t for t in trials if t.kind == TrialKind.SEARCH]
    reruns = [t for t in trials if t.kind == TrialKind.SEEDS]
    assert search and all(t.test_value is None for t in search)  # selected on eval: never tested
    assert len(reruns) == 4
    for t in reruns:
        assert t.state == TrialState.COMPLETE and 0.0 <= t.test_value <= 1.0
        assert set(t.test_metrics) == {"accuracy", "f1", "eval_loss"} and t.test_metrics["accuracy"] == t.test_value
    assert (
        "Test split: generated: 128 examples" in " ".join(out.split())
        or "Test split" in run_cli("report", "--storage", url)[1]
    )


def test_the_trial_command_evaluates_the_test_split_when_asked() -> None:
    base = ["trial", "--config", str(TINY), "--space", "lr_only", "--params", '{"lr": 0.01}', "--test"]
    code, out, err = run_cli(*base)
    assert code == 0, err
    first, last = (json.loads(line) for line in out.strip().splitlines()[1:3])
    assert not any(k.startswith("test/") for k in first)  # the evaluation at step 10: eval only
    assert {"test/accuracy", "test/f1", "test/eval_loss"} <= set(last) and 0.0 <= last["test/accuracy"] <= 1.0
