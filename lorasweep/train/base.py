"""The task-specific half of a trial, as an interface (:class:`Workload`), and the one place that
wraps a model with PEFT LoRA (:func:`add_lora`).

Each task kind (:mod:`lorasweep.kinds`) subclasses :class:`Workload` in its own module. That
module is imported whenever a config is validated, so this one imports torch and peft only
inside the functions that use them: defining a workload costs nothing until it runs.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from torch import nn

    from lorasweep.config import ModelConfig, TaskBase
    from lorasweep.train.data import TrainBatch

__all__ = ["Workload", "add_lora"]


def add_lora(
    model: nn.Module, cfg: ModelConfig, rank: int, alpha: float, use_rslora: bool, task_type: Any
) -> PeftModel:
    """Wrap ``model`` with a PEFT LoRA adapter. PEFT owns the scaling (α/r or α/√r)."""
    from peft import LoraConfig, get_peft_model

    from lorasweep.errors import ConfigError

    lora = LoraConfig(
        task_type=task_type,
        r=rank,
        lora_alpha=alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        use_rslora=use_rslora,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as e:
        raise ConfigError(
            f"model.target_modules {cfg.target_modules}: {str(e).splitlines()[0].split('. ')[0]}; "
            "name modules that exist in this architecture or use all-linear"
        ) from e


class Workload(abc.ABC):
    """The task-specific half of a trial: the base model, the training batches, the evaluation."""

    task: TaskBase
    #: PEFT's task type (``"SEQ_CLS"``, ``"CAUSAL_LM"``; None: a plain torch module)
    peft_task_type: str | None = None

    @property
    def metric_names(self) -> tuple[str, ...]:
        """What :meth:`evaluate` returns: the metrics the task's kind declares."""
        return self.task.metric_names

    @abc.abstractmethod
    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        """A fresh trainable copy of the frozen base (``seed`` fixes any newly initialized head)."""

    def with_lora(self, model_cfg: ModelConfig, seed: int, rank: int, alpha: float, use_rslora: bool) -> PeftModel:
        import torch

        model = self.base_model(model_cfg, seed)
        torch.manual_seed(seed)  # LoRA init (A random, B zero) and dropout
        return add_lora(model, model_cfg, rank, alpha, use_rslora, self.peft_task_type)

    @abc.abstractmethod
    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        """Endless shuffled training batches; the order is fixed by ``seed`` (``group_by_length``:
        batches of similar length, where lengths vary)."""

    @abc.abstractmethod
    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Every metric of :attr:`metric_names` on the eval split."""
