"""Which device a trial trains on, and the GPU share it is charged for.

Ray assigns GPUs to a trial (``ray.get_gpu_ids()``, and ``CUDA_VISIBLE_DEVICES`` so that the
trial's ``cuda:0`` is its first assigned GPU); the Ray adapter passes those ids here. Outside Ray
(``lorasweep trial``) there are none, and ``training.device`` alone decides.

- Ray assigned a GPU and torch sees CUDA: the trial runs on ``cuda:0`` (its assigned GPU).
- Ray assigned a GPU but torch sees no CUDA (a CPU build of torch, or Ray's *logical* GPUs,
  ``ray start --num-gpus=N`` on a machine without any): an error in one line, unless the
  experiment says ``resources.allow_cpu_fallback: true`` (tests of GPU scheduling on a CPU), in
  which case it runs on the CPU and says so in its device string. Never silently.
- No GPU assigned: ``training.device`` (``auto``: CUDA when present, else the CPU).

The device string a trial reports (and the store keeps) names the device and the GPUs Ray gave
it, e.g. ``cuda:0 (GPU 1, 0.25 share)`` or ``cpu (logical GPU 0, 0.5 share; allow_cpu_fallback)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lorasweep.config import ExperimentConfig
from lorasweep.errors import ConfigError

__all__ = ["DeviceChoice", "choose_device", "gpu_share", "pick_device"]


def pick_device(choice: str) -> torch.device:
    """``training.device`` alone: cuda (which must be present), cpu, or auto (CUDA when present)."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device is cuda but torch sees no CUDA device; use device: auto or cpu")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def gpu_share(exp: ExperimentConfig) -> float:
    """The GPUs one trial holds: ``resources.gpus_per_trial``, or 1 while it is still ``auto``
    (a trial run alone, outside a search, holds its whole GPU)."""
    share = exp.resources.gpus_per_trial
    return 1.0 if share == "auto" else float(share)


@dataclass(frozen=True, kw_only=True)
class DeviceChoice:
    """The device a trial trains on, the GPU ids Ray assigned it and the share it is charged for."""

    device: torch.device
    gpu_ids: tuple[str, ...] = ()
    #: GPUs held (the device-seconds multiplier, :func:`lorasweep.cost.device_seconds`); 0: none
    share: float = 0.0
    #: Ray assigned GPUs, torch saw no CUDA, and the experiment allowed the CPU instead
    fallback: bool = False

    def describe(self) -> str:
        name = "cuda:0" if self.device.type == "cuda" and self.device.index is None else str(self.device)
        if not self.gpu_ids:
            return name
        ids = ", ".join(self.gpu_ids)
        held = f"{self.share:g} share" if self.share < 1 else f"{self.share:g} GPU" + ("s" if self.share > 1 else "")
        if self.fallback:
            return f"{name} (logical GPU {ids}, {held}; allow_cpu_fallback)"
        return f"{name} (GPU {ids}, {held})"


def choose_device(exp: ExperimentConfig, gpu_ids: Sequence[str | int] | None, cuda: bool | None = None) -> DeviceChoice:
    """The device for a trial of ``exp`` that Ray assigned ``gpu_ids`` (None outside Ray);
    ``cuda``: whether torch sees CUDA (default: ask torch). See the module's docstring."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    ids = tuple(str(i) for i in gpu_ids or ())
    if not ids:
        device = pick_device(exp.training.device)
        return DeviceChoice(device=device, share=gpu_share(exp) if device.type == "cuda" else 0.0)
    share = gpu_share(exp)
    if exp.training.device == "cpu":
        return DeviceChoice(device=torch.device("cpu"), gpu_ids=ids, share=share)
    if cuda:
        return DeviceChoice(device=torch.device("cuda"), gpu_ids=ids, share=share)
    if exp.resources.allow_cpu_fallback:
        return DeviceChoice(device=torch.device("cpu"), gpu_ids=ids, share=share, fallback=True)
    raise ConfigError(
        f"resources.gpus_per_trial: Ray assigned GPU {', '.join(ids)} to this trial but torch sees no CUDA device "
        "(a CPU build of torch, or logical GPUs from ray start --num-gpus); install a CUDA torch on the workers, "
        "or set resources.allow_cpu_fallback: true to run such trials on the CPU"
    )
