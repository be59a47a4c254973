"""``resources.gpus_per_trial: auto``: measure one trial's peak device memory at the experiment's
shapes, then pack as many trials per GPU as fit with a margin.

The measurement sits behind :class:`MemoryProbe` so that the packing and everything around it
(the Ray task that runs the probe on a GPU, the stored choice, the report's sentence) can be
tested on a CPU with a probe of the test's own. :class:`CudaMemoryProbe` is the real one: a
short trial on a GPU at the experiment's largest rank, batch size and eval batch size (training
steps and one evaluation, generation included for causal LMs), read with
``torch.cuda.max_memory_allocated``. Batches are padded to their longest row, so a later batch
can be longer than the probe's: ``resources.memory_margin`` (default 20 % of the GPU) is what
covers that and the CUDA context, which ``max_memory_allocated`` does not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lorasweep.config import ExperimentConfig, GpuShareChoice
from lorasweep.errors import ConfigError

__all__ = ["CudaMemoryProbe", "MemoryMeasurement", "MemoryProbe", "choose_share", "gib", "trials_per_gpu"]

#: Training steps the CUDA probe runs before its evaluation.
PROBE_STEPS = 3


@dataclass(frozen=True, kw_only=True)
class MemoryMeasurement:
    """One trial's peak device memory, and the device it was measured on."""

    peak_bytes: int
    device_bytes: int
    device_name: str


@runtime_checkable
class MemoryProbe(Protocol):
    """Measures one trial's peak device memory at ``exp``'s shapes, on the GPU it runs on."""

    def measure(self, exp: ExperimentConfig) -> MemoryMeasurement: ...


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def trials_per_gpu(peak_bytes: int, device_bytes: int, margin: float, cap: int) -> tuple[int, bool]:
    """How many trials of ``peak_bytes`` fit on a GPU of ``device_bytes`` keeping ``margin`` of
    it free, at most ``cap``; and whether the cap (not memory) decided. 0 when not even one fits."""
    usable = device_bytes * (1.0 - margin)
    fit = math.floor(usable / peak_bytes) if peak_bytes > 0 else cap
    return min(fit, cap), fit > cap


def choose_share(m: MemoryMeasurement, margin: float, cap: int) -> GpuShareChoice:
    """The GPU share for trials measured at ``m``: 1 / trials per GPU (rounded down to Ray's 4
    decimals, so that the shares of a full GPU never add up to more than 1)."""
    n, capped = trials_per_gpu(m.peak_bytes, m.device_bytes, margin, cap)
    if n < 1:
        raise ConfigError(
            f"resources.gpus_per_trial auto: one trial needs {gib(m.peak_bytes):.1f} GiB at its peak but "
            f"{m.device_name} has {gib(m.device_bytes):.1f} GiB ({margin:.0%} kept free); lower training.batch_size "
            "or eval_batch_size, set model.dtype: bfloat16 or gradient_checkpointing: true, or lower memory_margin"
        )
    return GpuShareChoice(
        share=math.floor(10_000 / n) / 10_000,
        trials_per_gpu=n,
        peak_bytes=m.peak_bytes,
        device_bytes=m.device_bytes,
        device_name=m.device_name,
        margin=margin,
        capped=capped,
    )


def describe_share(exp: ExperimentConfig) -> str:
    """One sentence: the GPU share each trial held and why."""
    r = exp.resources
    choice = r.auto
    if choice is not None:
        why = (
            f"max_trials_per_gpu ({choice.trials_per_gpu}) allowed no more"
            if choice.capped
            else f"{choice.trials_per_gpu} such trials fit with {choice.margin:.0%} of the GPU kept free"
        )
        return (
            f"Each trial held {choice.share:g} of a GPU (gpus_per_trial: auto): one trial measured "
            f"{gib(choice.peak_bytes):.2f} GiB at its peak on {choice.device_name} ({gib(choice.device_bytes):.1f} "
            f"GiB), and {why}."
        )
    share = r.gpus_per_trial
    if share == 0 or share == "auto":
        return "Trials held no GPU (gpus_per_trial: 0): each one's device-seconds are its wall seconds."
    if isinstance(share, float) and share < 1:
        return f"Each trial held {share:g} of a GPU (gpus_per_trial set in the experiment), {1 / share:g} per GPU."
    return f"Each trial held {share:g} GPU{'s' if share > 1 else ''} (gpus_per_trial set in the experiment)."


class CudaMemoryProbe:
    """A short trial on this process's GPU (under Ray: the one GPU Ray assigned the probe's task):
    :data:`PROBE_STEPS` training steps and one evaluation at the experiment's largest rank,
    batch size and eval batch size; the peak of ``torch.cuda.max_memory_allocated``."""

    def measure(self, exp: ExperimentConfig) -> MemoryMeasurement:
        import torch

        from lorasweep.scaling import LoraParams
        from lorasweep.train.train import run_trial

        if not torch.cuda.is_available():
            raise ConfigError(
                "resources.gpus_per_trial auto: the memory probe found no CUDA device (torch sees none); "
                "give gpus_per_trial a number, or run where torch has CUDA"
            )
        steps = min(PROBE_STEPS, exp.budget.max_steps)
        probe = exp.model_copy(
            update={
                "budget": exp.budget.model_copy(update={"max_steps": steps, "eval_every": steps}),
                "training": exp.training.model_copy(update={"device": "cuda", "diagnostics_every": 0}),
                "resources": exp.resources.model_copy(update={"gpus_per_trial": 1.0}),
            }
        )
        rank = max(exp.ranks)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        lora = LoraParams(rank=rank, alpha=2.0 * rank, lr=1e-5, use_rslora=False)
        run_trial(probe, lora, seed=exp.seed, report=lambda _report: None)
        torch.cuda.synchronize()
        props = torch.cuda.get_device_properties(0)
        return MemoryMeasurement(
            peak_bytes=int(torch.cuda.max_memory_allocated()),
            device_bytes=int(props.total_memory),
            device_name=props.name,
        )
