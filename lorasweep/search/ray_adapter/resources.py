"""GPUs on the Ray side, checked and chosen before a search starts.

- :func:`check_resources`: a trial's ``cpus_per_trial`` and ``gpus_per_trial`` must fit on one
  node of the cluster (Ray places a trial on one node: a request larger than every node waits
  forever), checked against ``ray.nodes()``; one line that says what the largest node has.
- :func:`check_trial_device`: one Ray task with a trial's resources picks the device as a trial
  would (:func:`lorasweep.train.device.choose_device`), so a GPU share on workers whose torch has
  no CUDA (and no ``allow_cpu_fallback``) fails before the search, not in every trial.
- :func:`resolve_gpu_share`: ``gpus_per_trial: auto`` → a measured share. A
  :class:`~lorasweep.train.memory.MemoryProbe` (the CUDA one by default) runs in a Ray task
  that holds one whole GPU; the share that fits (:func:`lorasweep.train.memory.choose_share`)
  replaces ``auto`` in the experiment, with the measurement kept in ``resources.auto``.
"""

from __future__ import annotations

from typing import Any

from lorasweep.config import ExperimentConfig
from lorasweep.errors import ConfigError, LorasweepError
from lorasweep.train.memory import CudaMemoryProbe, MemoryMeasurement, MemoryProbe, choose_share

__all__ = ["check_resources", "check_trial_device", "largest_node", "resolve_gpu_share"]


def largest_node(nodes: list[dict[str, Any]]) -> tuple[float, float]:
    """The most CPUs and the most GPUs any one alive node of ``ray.nodes()`` has."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    return max((r.get("CPU", 0.0) for r in alive), default=0.0), max((r.get("GPU", 0.0) for r in alive), default=0.0)


def check_resources(exp: ExperimentConfig, nodes: list[dict[str, Any]]) -> None:
    """One line when a trial asks for more CPUs or GPUs than any one node has."""
    cpus, gpus = largest_node(nodes)
    r = exp.resources
    if r.cpus_per_trial > cpus:
        raise LorasweepError(
            f"resources.cpus_per_trial is {r.cpus_per_trial:g} but the largest Ray node has {cpus:g} CPUs; "
            "lower cpus_per_trial"
        )
    if r.gpus_per_trial == "auto":
        if gpus < 1:
            raise LorasweepError(
                f"resources.gpus_per_trial is auto but no Ray node has a whole GPU (the largest has {gpus:g}); "
                "set gpus_per_trial: 0, or run on a cluster with GPUs"
            )
    elif r.gpus_per_trial > gpus:
        raise LorasweepError(
            f"resources.gpus_per_trial is {r.gpus_per_trial:g} but the largest Ray node has {gpus:g} GPUs; "
            "lower gpus_per_trial (a fraction packs trials on one GPU), set it to 0, or run on nodes with more GPUs"
        )


def _trial_device(exp_json: str) -> str:
    import ray

    from lorasweep.train.device import choose_device

    exp = ExperimentConfig.model_validate_json(exp_json)
    return choose_device(exp, ray.get_gpu_ids()).describe()


def check_trial_device(exp: ExperimentConfig) -> str:
    """The device a trial with ``exp``'s resources gets on this cluster (a Ray task asks, as the
    trial would); the trial's one-line error if it would get none."""
    import ray

    share = exp.resources.gpus_per_trial
    if share == 0 or share == "auto":
        return "cpu"
    task = ray.remote(num_cpus=0, num_gpus=share, max_retries=0)(_trial_device)
    try:
        return ray.get(task.remote(exp.model_dump_json()))
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, ConfigError):
            raise ConfigError(str(e.cause).splitlines()[0]) from e
        raise


def _measure(probe: MemoryProbe, exp_json: str) -> MemoryMeasurement:
    from lorasweep.train.model import quiet_transformers

    quiet_transformers()
    return probe.measure(ExperimentConfig.model_validate_json(exp_json))


def resolve_gpu_share(exp: ExperimentConfig, probe: MemoryProbe | None = None) -> ExperimentConfig:
    """``exp`` with ``gpus_per_trial: auto`` replaced by the share that fits, measured by
    ``probe`` (default :class:`~lorasweep.train.memory.CudaMemoryProbe`) in a Ray task holding
    one GPU; ``exp`` itself when its share is a number."""
    import ray

    r = exp.resources
    if r.gpus_per_trial != "auto":
        return exp
    task = ray.remote(num_cpus=0, num_gpus=1, max_retries=0)(_measure)
    try:
        measured = ray.get(task.remote(probe or CudaMemoryProbe(), exp.model_dump_json()))
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, ConfigError):
            raise ConfigError(str(e.cause).splitlines()[0]) from e
        text = str(e.cause).strip()
        first = text.splitlines()[0] if text else type(e.cause).__name__
        raise LorasweepError(f"resources.gpus_per_trial auto: the memory probe failed ({first})") from e
    choice = choose_share(measured, r.memory_margin, r.max_trials_per_gpu)
    resolved = exp.model_copy(
        update={"resources": r.model_copy(update={"gpus_per_trial": choice.share, "auto": choice})}
    )
    check_trial_device(resolved)
    return resolved
