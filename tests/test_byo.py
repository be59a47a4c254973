"""Bring your own training code: ``kind: python``, ``Trial.report``, ``LorasweepCallback``,
``lorasweep.compare(fit)`` and ``lorasweep.load``'s data frames. The unit tests run the trial
object without Ray (a ``send`` that records, or raises TrialPruned as Tune's stop does); the slow
ones run the examples and scripted callables through ``lorasweep compare`` with both spaces."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lorasweep.config import experiment_from_dict, load_experiment
from lorasweep.errors import ConfigError
from lorasweep.scaling import LoraParams
from lorasweep.train.train import TrialEnd
from lorasweep.train.user_code import TrialDiverged, TrialPruned
from lorasweep.train.user_runner import UserCodeError, make_trial, run_user_trial

from conftest import TINY, run_cli, sqlite_dump

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"

SCRIPTED_TASK = {
    "kind": "python",
    "name": "scripted",
    "entrypoint": "byo_scripted:fit",
    "metrics": [{"name": "score", "direction": "maximize"}, {"name": "other", "direction": "maximize"}],
    "target_modules": ["query", "value"],
    "python_path": [str(TESTS)],
}


def scripted(folder: Path, **overrides: Any) -> dict[str, Any]:
    """The scripted experiment: both spaces, 3 trials of 20 steps, ASHA at 10 (one trial at a time)."""
    raw = yaml.safe_load(TINY.read_text())
    raw.pop("model")
    raw.update(task=dict(SCRIPTED_TASK), metric={"name": "score"}, **overrides)
    return raw


def _experiment(folder: Path, **task: Any) -> Any:
    raw = scripted(folder)
    raw["task"].update(task)
    return experiment_from_dict(str(folder / "e.yaml"), raw)


@pytest.fixture(autouse=True)
def _forget_declared_metrics() -> Any:
    """A python task registers the metrics it declares (a name keeps one direction everywhere); the
    other test modules list the registry, so each test here removes the ones it added."""
    from lorasweep.metrics import METRICS

    before = set(METRICS.names())
    yield
    for name in set(METRICS.names()) - before:
        METRICS.remove(name)


class Sent:
    """A ``send`` that records each report; ``prune_at``: raise TrialPruned there, as Tune's stop does."""

    def __init__(self, prune_at: int | None = None) -> None:
        self.reports: list[Any] = []
        self.prune_at = prune_at

    def __call__(self, r: Any, folder: str | None) -> None:
        self.reports.append(r)
        if self.prune_at is not None and r.step >= self.prune_at:
            raise TrialPruned("stopped by the scheduler")


def _trial(exp: Any, send: Sent, number: int = 0, **lora: Any) -> Any:
    params = {"rank": 4, "alpha": 8.0, "lr": 1e-3, **lora}
    return make_trial(exp, LoraParams(**params), 0, space="lr_only", number=number, send=send)


# ---------------------------------------------------------------------------------------------
# The kind and its checks


def test_the_task_declares_its_metrics_and_the_trial_gets_a_ready_lora_config(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, peft_task_type="SEQ_CLS", params={"data": "x.csv"})
    assert exp.task.metric_names == ("score", "other")
    trial = _trial(exp, Sent(), rank=8, alpha=32.0, lr=2e-4, use_rslora=True)
    cfg = trial.lora_config
    assert (cfg.r, cfg.lora_alpha, cfg.use_rslora, sorted(cfg.target_modules)) == (8, 32.0, True, ["query", "value"])
    assert trial.scaling == pytest.approx(32 / math.sqrt(8))
    assert trial.effective_step == pytest.approx(trial.scaling * 2e-4)
    assert (trial.max_steps, trial.eval_every, trial.seed, trial.params) == (20, 10, 0, {"data": "x.csv"})
    with pytest.raises(TypeError):
        type(trial)(rank=1)  # keyword-only, every field required


def test_a_python_task_covers_the_same_effective_steps_as_a_builtin_one(tmp_path: Path) -> None:
    from lorasweep.search.studies import compare_plan

    byo, builtin = _experiment(tmp_path), load_experiment(TINY)
    assert [p.space for p in compare_plan(byo, "x").studies] == [p.space for p in compare_plan(builtin, "x").studies]


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("nowhere_module:fit", r"no module named 'nowhere_module' in .*; set task.python_path to the folder"),
        ("byo_scripted:absent", r"module byo_scripted has no attribute 'absent'; name a callable it defines"),
        ("byo_scripted:__doc__", r"__doc__ is a str, not a callable"),
    ],
)
def test_an_entrypoint_that_cannot_be_imported_is_one_line(tmp_path: Path, entrypoint: str, message: str) -> None:
    exp = _experiment(tmp_path, entrypoint=entrypoint)
    with pytest.raises(ConfigError, match=message):
        exp.task.check_data()


def test_compare_with_an_unimportable_entrypoint_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    raw = scripted(tmp_path)
    raw["task"].update(entrypoint="nowhere_module:fit", python_path=["."])
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(raw))
    db = tmp_path / "runs.db"
    code, _, err = run_cli("compare", "--config", str(config), "--storage", f"sqlite:///{db}")
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "task.entrypoint 'nowhere_module:fit': no module named 'nowhere_module'" in lines[0]
    assert sqlite_dump(db) == []


def test_python_path_is_relative_to_the_yaml_file(tmp_path: Path) -> None:
    exp = load_experiment(EXAMPLES / "hf_trainer" / "experiment.yaml")
    assert exp.task.python_path == [str(EXAMPLES / "hf_trainer")]


# ---------------------------------------------------------------------------------------------
# Trial.report without Ray


def test_reports_carry_the_declared_metrics_and_the_last_is_sent_complete_on_return(tmp_path: Path) -> None:
    from byo_scripted import fit

    sent = Sent()
    trial = _trial(_experiment(tmp_path), sent, number=1)
    assert run_user_trial(fit, trial) is False
    assert [(r.step, r.metrics, r.end) for r in sent.reports] == [
        (10, {"score": 0.5 + 0.01, "other": 10.0}, None),
        (20, {"score": 0.5 + 0.02, "other": 20.0}, TrialEnd.COMPLETE),
    ]
    assert sent.reports[0].train_loss == 1.0 and all(r.device_seconds > 0 for r in sent.reports)


def test_a_pruned_report_raises_and_ends_the_trial_as_tune_asked(tmp_path: Path) -> None:
    from byo_scripted import fit

    sent = Sent(prune_at=10)
    trial = _trial(_experiment(tmp_path), sent)
    assert run_user_trial(fit, trial) is True  # the Tune function must exit its thread
    assert trial.pruned and trial.should_stop and [r.step for r in sent.reports] == [10]
    with pytest.raises(TrialPruned):
        trial.report(11, {"score": 1.0})  # every later report says so again


def test_the_divergence_rule_ends_the_trial_diverged(tmp_path: Path) -> None:
    sent = Sent()
    trial = _trial(_experiment(tmp_path), sent)

    def blows_up(t: Any) -> None:
        t.report(1, {"train_loss": 1.0})
        t.report(2, {"train_loss": 11.0})  # rule 2: above divergence_factor (10) × the first loss

    assert run_user_trial(blows_up, trial) is False
    assert isinstance(trial._reporter.stopped, TrialDiverged) and not trial.pruned
    (r,) = sent.reports
    assert (r.step, r.end) == (2, TrialEnd.DIVERGED) and all(math.isnan(v) for v in r.metrics.values())

    sent = Sent()
    trial = _trial(_experiment(tmp_path), sent)

    def drifts_up(t: Any) -> None:  # rule 3: the mean loss since the last evaluation above 2 × the first
        for step in range(1, 11):
            t.report(step, {"train_loss": 1.0 if step == 1 else 3.0})
        t.report(10, {"score": 0.9})

    run_user_trial(drifts_up, trial)
    assert [(r.step, r.end) for r in sent.reports] == [(10, TrialEnd.DIVERGED)]


def test_an_error_in_the_users_code_is_one_line_with_the_users_frame(tmp_path: Path) -> None:
    from byo_scripted import fit

    exp = _experiment(tmp_path, params={"crash": 3})
    with pytest.raises(UserCodeError) as caught:
        run_user_trial(fit, _trial(exp, Sent(), number=3))
    text = str(caught.value)
    assert text.startswith("ValueError: scripted crash in trial 3 (")
    assert f"{TESTS / 'byo_scripted.py'}:" in text and text.endswith(" in fit)") and "\n" not in text


def test_a_callable_that_stops_before_the_budget_fails_the_trial(tmp_path: Path) -> None:
    def short(t: Any) -> None:
        t.report(10, {"score": 0.5})

    with pytest.raises(UserCodeError, match=r"its last evaluation was at step 10, but every trial trains max_steps 20"):
        run_user_trial(short, _trial(_experiment(tmp_path), Sent()))
    with pytest.raises(UserCodeError, match=r"ValueError: report\(step=21\): past the trial's budget \(max_steps 20\)"):
        run_user_trial(lambda t: t.report(21, {"score": 0.5}), _trial(_experiment(tmp_path), Sent()))


# ---------------------------------------------------------------------------------------------
# LorasweepCallback with a real Trainer (no Ray)


def _hf_experiment() -> Any:
    return load_experiment(EXAMPLES / "hf_trainer" / "experiment.yaml", {"training.device": "cpu"})


def test_the_callback_reports_evaluations_and_the_training_loss(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES / "hf_trainer"))
    import train

    sent = Sent()
    trial = _trial(_hf_experiment(), sent)
    assert run_user_trial(train.fit, trial) is False
    assert [(r.step, r.end) for r in sent.reports] == [(10, None), (20, TrialEnd.COMPLETE)]
    for r in sent.reports:
        assert 0.0 <= r.metrics["eval_accuracy"] <= 1.0 and math.isfinite(r.metrics["eval_loss"])
        assert math.isfinite(r.train_loss) and r.train_loss > 0  # the mean of the losses on_log forwarded


def test_the_callback_stops_the_trainer_when_the_trial_is_pruned(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES / "hf_trainer"))
    import train

    sent = Sent(prune_at=10)
    trial = _trial(_hf_experiment(), sent)
    steps: list[int] = []
    original = train.Trainer.train

    def train_and_count(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        steps.append(self.state.global_step)
        return out

    train.Trainer.train = train_and_count  # type: ignore[method-assign]
    try:
        assert run_user_trial(train.fit, trial) is True
    finally:
        train.Trainer.train = original  # type: ignore[method-assign]
    assert steps == [10] and trial.pruned and [r.step for r in sent.reports] == [10]


# ---------------------------------------------------------------------------------------------
# Through lorasweep compare (Ray)


def _trials_by_space(url: str, name: str) -> dict[str, list[Any]]:
    from lorasweep.store import Storage

    with Storage.open(url, readonly=True) as st:
        record = st.experiment(name)
        study = {s.id: s.space for s in st.studies(record.id)}
        out: dict[str, list[Any]] = {}
        for t in sorted(st.trials(record.id), key=lambda t: t.optuna_number or 0):
            out.setdefault(study[t.study_id], []).append(t)
        return out


@pytest.mark.slow
def test_scripted_compare_prunes_records_the_crash_and_goes_on(tmp_path: Path) -> None:
    import optuna
    import pandas as pd

    import lorasweep
    from lorasweep.store import Storage, TrialState

    raw = scripted(tmp_path)
    raw["task"]["params"] = {"crash": 1}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(raw))
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    code, _, err = run_cli("compare", "--config", str(config), "--storage", url, "--name", "scripted")
    assert code == 0, err

    trials = _trials_by_space(url, "scripted")
    assert sorted(trials) == ["lora_alpha", "lr_only"]
    for space, ts in trials.items():
        assert [t.state for t in ts] == [TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED], space
        assert ts[0].final_value == pytest.approx(1.0 + 0.02) and ts[2].final_value == pytest.approx(1 / 3 + 0.01)
        assert ts[1].error.startswith("ValueError: scripted crash in trial 1 (")  # once, with the user's frame
        assert f"{TESTS / 'byo_scripted.py'}:" in ts[1].error and ts[1].error.count("scripted crash") == 1
        assert ts[2].steps == 10 and ts[0].steps == 20

    results = lorasweep.load(url, "scripted")
    assert "no verdict" in (results.verdict or "") and results.finding
    assert set(results.spaces) == {"lr_only", "lora_alpha"}
    steps = results.steps_dataframe()
    first = steps[(steps.space == "lr_only") & (steps.number == 0)]
    got = [float(v) for row in first[["step", "value", "score", "other", "train_loss"]].values.tolist() for v in row]
    assert got == pytest.approx([10, 1.01, 1.01, 10.0, 1.0, 20, 1.02, 1.02, 20.0, 1.0])

    # coverage: the studies searched what a built-in experiment with the same spaces searches
    from lorasweep.search.studies import compare_plan

    with Storage.open(url, readonly=True) as st:
        stored = {s.space: s.space_config for s in st.studies(st.experiment("scripted").id)}
    builtin = {p.space.name: p.space.model_dump(mode="json") for p in compare_plan(load_experiment(TINY), "x").studies}
    assert stored == builtin
    assert results.report["spaces"]["lr_only"]["coverage"] == results.report["spaces"]["lora_alpha"]["coverage"]

    # the data frame against stock Optuna's view of the same studies
    frame = results.trials_dataframe()
    for s in results.spaces.values():
        (name,) = s.optuna_studies
        ours = frame[(frame.study == name) & (frame.kind == "search")].reset_index(drop=True)
        theirs = optuna.load_study(study_name=name, storage=url).trials_dataframe()
        shared = ["number", *sorted(c for c in theirs.columns if c.startswith("params_")), "state"]
        pd.testing.assert_frame_equal(
            ours[shared].astype({"number": "int64"}), theirs[shared], check_dtype=False, check_names=True
        )
        assert ours["value"].tolist() == pytest.approx(theirs["value"].tolist(), nan_ok=True)
        assert {"space", "rank", "effective_step", "device_seconds", "datetime_start"} <= set(ours.columns)


def _example_run(tmp_path: Path, example: str, metric: str, name: str) -> tuple[str, dict[str, list[Any]]]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    code, _, err = run_cli(
        "compare", "--config", str(EXAMPLES / example / "experiment.yaml"), "--storage", url, "--name", name
    )
    assert code == 0, err
    trials = _trials_by_space(url, name)
    assert sorted(trials) == ["lora_alpha", "lr_only"]
    return url, trials


def _assert_stored_metrics(url: str, name: str, metric: str, trials: dict[str, list[Any]]) -> None:
    from lorasweep.store import Storage, TrialState

    with Storage.open(url, readonly=True) as st:
        reports = st.reports(st.experiment(name).id)
    for ts in trials.values():
        assert len(ts) == 3 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts)
        assert any(t.state == TrialState.COMPLETE for t in ts)
        for t in ts:
            own = [r for r in reports if r.trial_id == t.id]
            assert [r.step for r in own] == ([10, 20] if t.state == TrialState.COMPLETE else [10])
            for r in own:
                assert 0.0 <= r.metrics[metric] <= 1.0 and r.value == r.metrics[metric]
                assert math.isfinite(r.metrics["eval_loss"]) and r.train_loss is not None and r.device_seconds > 0


@pytest.mark.slow
def test_the_hf_trainer_example_through_compare(tmp_path: Path) -> None:
    url, trials = _example_run(tmp_path, "hf_trainer", "eval_accuracy", "hf")
    _assert_stored_metrics(url, "hf", "eval_accuracy", trials)
    out = tmp_path / "adapter"
    code, _, err = run_cli("export", "--storage", url, "--experiment", "hf", "--space", "lr_only", "--out", str(out))
    assert code == 0, err
    assert (out / "adapter_config.json").is_file()


@pytest.mark.slow
def test_the_pytorch_loop_example_through_compare(tmp_path: Path) -> None:
    url, trials = _example_run(tmp_path, "pytorch_loop", "accuracy", "loop")
    _assert_stored_metrics(url, "loop", "accuracy", trials)


@pytest.mark.slow
def test_the_trl_sft_example_through_compare(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    url, trials = _example_run(tmp_path, "trl_sft", "eval_loss", "sft")
    from lorasweep.store import Storage, TrialState

    with Storage.open(url, readonly=True) as st:
        reports = st.reports(st.experiment("sft").id)
    for ts in trials.values():
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ts)
        for t in ts:
            values = [r.metrics["eval_loss"] for r in reports if r.trial_id == t.id]
            assert values and all(math.isfinite(v) and v > 0 for v in values)


@pytest.mark.slow
def test_asha_prunes_an_hf_trainer_through_the_callback(tmp_path: Path) -> None:
    """A real Trainer with the scripted metric: trial 0 completes, trials 1 and 2 are pruned at
    step 10 and their Trainers stop there (their reports end at 10)."""
    import lorasweep
    from lorasweep.store import TrialState

    sys.path.insert(0, str(TESTS))
    import byo_scripted

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    results = lorasweep.compare(
        byo_scripted.hf_fit,
        metrics={"eval_score": "maximize", "eval_loss": "minimize"},
        target_modules=["query", "value"],
        task={"peft_task_type": "SEQ_CLS"},
        config=EXAMPLES / "hf_trainer" / "experiment.yaml",
        overrides={"spaces": ["lr_only"]},
        storage=url,
        name="hf-pruned",
    )
    frame = results.trials_dataframe()
    assert frame.outcome.tolist() == ["complete", "pruned", "pruned"]
    assert frame.steps.tolist() == [20, 10, 10]
    assert results.spaces["lr_only"].counts[TrialState.PRUNED] == 2


@pytest.mark.slow
def test_ray_job_submit_runs_the_users_code_from_the_working_dir(
    ray_head: tuple[str, dict[str, str], Path],
    ray_temp: Path,  # the head's temp dir, where Ray unpacks a job's working dir
    tmp_path: Path,
) -> None:
    """``ray job submit --working-dir`` on a real local Ray cluster (``ray start --head``): the
    user's module exists only in the working dir Ray uploaded, and the folder it came from is
    deleted once the job is submitted, so the driver (``lorasweep compare`` reading the YAML) and
    the trial workers (importing ``my_train:fit``) can only have used Ray's copy of it."""
    import json
    import shutil

    address, env, _ = ray_head
    env = {**env, "RAY_AUTH_MODE": "token"}
    ray = str(Path(sys.executable).parent / "ray")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(TESTS / "byo_scripted.py", work / "my_train.py")
    raw = scripted(tmp_path, budget={"trials": 2, "max_steps": 20, "eval_every": 10})
    raw["task"].update(entrypoint="my_train:fit", python_path=["."])
    (work / "exp.yaml").write_text(yaml.safe_dump(raw))
    db = tmp_path / "job.db"
    cmd = [
        ray, "job", "submit", "--address", address, "--working-dir", str(work), "--no-wait",
        "--submission-id", "byo-job", "--", "lorasweep", "compare", "--config", "exp.yaml",
        "--storage", f"sqlite:///{db}", "--name", "job",
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    shutil.rmtree(work)  # uploaded: from here on only Ray's copy of the user's code exists
    logs = subprocess.run(
        [ray, "job", "logs", "--address", address, "--follow", "byo-job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    status = subprocess.run(
        [ray, "job", "status", "--address", address, "byo-job"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "Job 'byo-job' succeeded" in status.stdout, status.stdout[-2000:] + logs.stdout[-3000:] + logs.stderr[-2000:]
    trials = _trials_by_space(f"sqlite:///{db}", "job")
    assert {s: [t.state.value for t in ts] for s, ts in trials.items()} == {
        "lr_only": ["complete", "pruned"],
        "lora_alpha": ["complete", "pruned"],
    }
    # the scripted scores of my_train.fit (trial 0 leads: 1/(1+0) + 20/1000 at its last step)
    assert [round(ts[0].best_value or 0, 6) for ts in trials.values()] == [1.02, 1.02]
    # the experiment names the working dir Ray unpacked on the cluster, not the folder it came from
    from lorasweep.store import Storage

    with Storage.open(f"sqlite:///{db}", readonly=True) as st:
        paths = st.experiment("job").config["task"]["python_path"]
    assert len(paths) == 1 and Path(paths[0]).is_relative_to(ray_temp), json.dumps(paths)
    assert not Path(paths[0]).is_relative_to(tmp_path)
