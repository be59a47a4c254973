"""GPU scheduling proven on a CPU: Ray's logical GPUs (``ray.init(num_gpus=2)``) are assigned to
trials exactly as on a GPU node. Fractional shares run as many trials at once as they allow, both
spaces' trials share the GPUs, each trial is told its GPU, device-seconds count the share, and
requests no node can meet fail before the search. Also the trial's device choice and
``gpus_per_trial: auto`` with a memory probe of the test's own."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from lorasweep.config import ExperimentConfig, load_experiment
from lorasweep.errors import ConfigError, LorasweepError
from lorasweep.scaling import LoraParams
from lorasweep.search.ray_adapter.resources import check_resources
from lorasweep.train.device import DeviceChoice, choose_device
from lorasweep.train.memory import MemoryMeasurement, choose_share, describe_share, trials_per_gpu
from lorasweep.train.train import run_trial

from conftest import TINY

GIB = 2**30


def _exp(**resources: Any) -> ExperimentConfig:
    return load_experiment(TINY, {f"resources.{k}": v for k, v in resources.items()})


# ---------------------------------------------------------------------------------------------
# The trial's device


def test_a_trial_with_a_gpu_and_cuda_runs_on_cuda() -> None:
    choice = choose_device(_exp(gpus_per_trial=0.5), ["1"], cuda=True)
    assert choice.device.type == "cuda" and choice.share == 0.5
    assert choice.describe() == "cuda:0 (GPU 1, 0.5 share)"


def test_logical_gpus_without_cuda_fail_in_one_line_unless_the_experiment_allows_the_cpu() -> None:
    with pytest.raises(ConfigError) as e:
        choose_device(_exp(gpus_per_trial=0.25), [0], cuda=False)
    assert "\n" not in str(e.value) and "allow_cpu_fallback" in str(e.value) and "GPU 0" in str(e.value)
    choice = choose_device(_exp(gpus_per_trial=0.25, allow_cpu_fallback=True), [0], cuda=False)
    assert choice.device.type == "cpu" and choice.fallback and choice.share == 0.25
    assert choice.describe() == "cpu (logical GPU 0, 0.25 share; allow_cpu_fallback)"


def test_without_a_gpu_assigned_training_device_decides() -> None:
    choice = choose_device(_exp(), None, cuda=False)
    assert choice.device.type == "cpu" and choice.share == 0 and choice.describe() == "cpu"


def test_device_seconds_count_the_share_the_trial_held() -> None:
    exp = load_experiment(TINY, {"budget.max_steps": 10, "budget.eval_every": 10})
    work = exp.task.prepare_workload(exp.model)
    reports: list[Any] = []
    share = DeviceChoice(device=torch.device("cpu"), gpu_ids=("0",), share=0.25, fallback=True)
    started = time.perf_counter()
    run_trial(
        exp, LoraParams(rank=4, alpha=8.0, lr=1e-3), seed=0, report=reports.append, workload=work, device_choice=share
    )
    elapsed = time.perf_counter() - started
    last = reports[-1]
    assert last.device == "cpu (logical GPU 0, 0.25 share; allow_cpu_fallback)"
    # a quarter of the trial's own wall time: at most a quarter of the time around it, and more
    # than an eighth (the time around it adds only the LoRA wrapping)
    assert elapsed / 8 < last.device_seconds <= elapsed / 4


# ---------------------------------------------------------------------------------------------
# Shares, nodes and auto


@pytest.mark.parametrize("bad", [1.5, -0.5])
def test_a_share_ray_cannot_give_is_refused_on_load(bad: float) -> None:
    with pytest.raises(ConfigError) as e:
        _exp(gpus_per_trial=bad)
    assert "gpus_per_trial" in str(e.value) and "\n" not in str(e.value)


def test_a_request_larger_than_every_node_is_one_line_naming_the_largest() -> None:
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}}, {"Alive": True, "Resources": {"CPU": 8.0}}]
    check_resources(_exp(gpus_per_trial=1), nodes)
    with pytest.raises(LorasweepError, match=r"gpus_per_trial is 2 but the largest Ray node has 1 GPUs"):
        check_resources(_exp(gpus_per_trial=2), nodes)  # two 1-GPU nodes would not do either
    with pytest.raises(LorasweepError, match="no Ray node has a whole GPU"):
        check_resources(_exp(gpus_per_trial="auto"), [{"Alive": True, "Resources": {"CPU": 4.0, "GPU": 0.5}}])


def test_auto_packs_as_many_trials_as_fit_with_the_margin() -> None:
    assert trials_per_gpu(3 * GIB, 16 * GIB, 0.2, 8) == (4, False)  # 12.8 GiB usable
    assert trials_per_gpu(1 * GIB, 80 * GIB, 0.2, 8) == (8, True)
    choice = choose_share(MemoryMeasurement(peak_bytes=5 * GIB, device_bytes=16 * GIB, device_name="T4"), 0.2, 8)
    assert choice.trials_per_gpu == 2 and choice.share == 0.5
    third = choose_share(MemoryMeasurement(peak_bytes=4 * GIB, device_bytes=16 * GIB, device_name="T4"), 0.2, 8)
    assert third.share == 0.3333 and 3 * third.share <= 1
    with pytest.raises(ConfigError, match=r"one trial needs 20\.0 GiB"):
        choose_share(MemoryMeasurement(peak_bytes=20 * GIB, device_bytes=16 * GIB, device_name="T4"), 0.2, 8)


# ---------------------------------------------------------------------------------------------
# Under Ray, with logical GPUs


#: Where the barrier trainable leaves its markers (pickled with the function, by value).
BARRIER: list[Any] = []


def barrier_trainable(config: dict[str, Any], **kwargs: Any) -> None:
    """The real trial, after every trial of its wave has arrived: trial k (in arrival order) waits
    until ``min(total, (k // wave + 1) * wave)`` trials have, so exactly ``wave`` trials run at
    once if the scheduler lets them, and the test sees overlap whatever the machine's speed."""
    from lorasweep.search.ray_adapter.trainable import lorasweep_trainable

    folder, wave, total = Path(BARRIER[0]), BARRIER[1], BARRIER[2]
    marker = folder / f"{time.time_ns()}-{config['optuna_number']}-{config['study'].replace('/', '_')}"
    marker.touch()
    k = sorted(p.name for p in folder.iterdir()).index(marker.name)
    need = min(total, (k // wave + 1) * wave)
    deadline = time.monotonic() + 300
    while len(list(folder.iterdir())) < need and time.monotonic() < deadline:
        time.sleep(0.2)
    lorasweep_trainable(config, **kwargs)


def _overlap(trials: list[Any]) -> int:
    """The most trials running at one moment (from their stored start and end times)."""
    events = sorted([(t.started_at, 1) for t in trials] + [(t.finished_at, -1) for t in trials])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


class FixedProbe:
    """A memory probe that reports a fixed measurement (what a GPU would measure)."""

    def __init__(self, peak_gib: float, device_gib: float) -> None:
        self.peak, self.device = int(peak_gib * GIB), int(device_gib * GIB)

    def measure(self, exp: ExperimentConfig) -> MemoryMeasurement:
        import ray

        assert len(ray.get_gpu_ids()) == 1  # the probe holds one whole GPU
        return MemoryMeasurement(peak_bytes=self.peak, device_bytes=self.device, device_name="logical GPU")


@pytest.fixture(scope="module")
def two_logical_gpus() -> Any:
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    ray.shutdown()
    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("share", "probe", "per_gpu"),
    [(0.5, None, 2), (0.25, None, 4), ("auto", FixedProbe(peak_gib=3, device_gib=10), 2)],
    ids=["0.5", "0.25", "auto"],
)
def test_fractional_gpus_run_trials_of_both_spaces_at_once(
    two_logical_gpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: Any, probe: Any, per_gpu: int
) -> None:
    """2 logical GPUs × (1 / share) trials each run at once; auto measures 3 GiB of 10 (8 usable): 2 per GPU.
    At 0.25, 8 trials (4 per space) share the 2 GPUs, 4 on each."""
    from lorasweep.report.sections import Report
    from lorasweep.search.runner import run_compare
    from lorasweep.store import Storage, TrialState

    total = 2 * per_gpu  # every trial of both spaces in one wave
    exp = load_experiment(
        TINY,
        {
            "budget.trials": per_gpu,
            "scheduler.name": "fifo",
            "max_concurrent_trials": 8,
            "resources.cpus_per_trial": 0.5,
            "resources.gpus_per_trial": share,
            "resources.allow_cpu_fallback": True,
            "ray.checkpoints": False,
        },
    )
    (tmp_path / "m").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "BARRIER", [str(tmp_path / "m"), 2 * per_gpu, total])
    with Storage.open(f"sqlite:///{tmp_path / 'g.db'}", create=True) as st:
        record = run_compare(exp, st, "gpus", trainable=barrier_trainable, memory_probe=probe)
        trials = st.trials(record.id)
        studies = {s.id: s.space for s in st.studies(record.id)}
        from lorasweep.analysis.summary import summarize

        report = Report.build(summarize(st, st.experiment("gpus")))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * total
    assert _overlap(trials) == 2 * per_gpu  # as many at once as the shares allow, no more
    held = 1 / per_gpu
    for t in trials:
        assert t.device is not None and f"{held:g} share; allow_cpu_fallback" in t.device, t.device
        assert 0 < t.device_seconds <= held * t.wall_seconds  # charged for its share of the GPU
    gpus = sorted(t.device.split("logical GPU ")[1].split(",")[0] for t in trials)
    assert gpus == ["0"] * per_gpu + ["1"] * per_gpu  # each GPU shared by per_gpu trials
    assert {studies[t.study_id] for t in trials} == {"lr_only", "lora_alpha"}
    stored = ExperimentConfig.model_validate(record.config)
    if share == "auto":
        assert stored.resources.gpus_per_trial == 0.5 and stored.resources.auto is not None
        assert stored.resources.auto.trials_per_gpu == 2
        assert "gpus_per_trial: auto" in describe_share(stored)
    why = report.json()["gpus"]["why"]
    assert why.startswith(f"Each trial held {held:g} of a GPU")


@pytest.mark.slow
def test_a_share_no_node_has_or_no_device_fails_before_the_search(two_logical_gpus: Any, tmp_path: Path) -> None:
    from lorasweep.search.runner import run_compare
    from lorasweep.store import Storage

    with Storage.open(f"sqlite:///{tmp_path / 'e.db'}", create=True) as st:
        with pytest.raises(LorasweepError, match="gpus_per_trial is 3 but the largest Ray node has 2 GPUs") as e:
            run_compare(load_experiment(TINY, {"resources.gpus_per_trial": 3}), st, "three")
        assert "\n" not in str(e.value)
        with pytest.raises(ConfigError, match="torch sees no CUDA device") as e:
            run_compare(load_experiment(TINY, {"resources.gpus_per_trial": 0.5}), st, "nofallback")
        assert "\n" not in str(e.value)
        assert not st.exists() or st.schema_revision() is None or st.experiment_names() == []
