"""The task-kind seam: :class:`TaskBase` (a kind's schema and checks), :class:`Workload` (the
task-specific half of a trial), :class:`TrainBatch` (what a workload trains on), and
:func:`task_kind`, which registers a kind.

A task kind is one module (the built-in ones are in :mod:`lorasweep.kinds`; a test's in
``tests/kind_linear_shift.py``) that defines a ``TaskBase`` subclass with ``kind:
Literal["NAME"]``, its fields and :attr:`~TaskBase.metrics`, decorated with ``@task_kind``, and a
``Workload`` subclass that builds the model (its :class:`~lorasweep.api.Head`, or a model of its
own), reads and encodes its data, draws training batches and evaluates. Nothing else changes: the
config validates ``kind: NAME`` through the registry, the runner and the trial call these methods.

A kind module is imported whenever a config is validated, so neither it nor this module imports
torch, transformers or peft at the top: they are imported inside the methods that run.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lorasweep.config.tasks import TASK_KINDS, TaskFields, kind_name
from lorasweep.metrics import METRICS, define_metric

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from torch import nn

    from lorasweep.config.experiment import ExperimentConfig
    from lorasweep.config.training import ModelConfig
    from lorasweep.scaling import LoraParams

__all__ = ["TASK_KINDS", "TaskBase", "TrainBatch", "Workload", "add_lora", "task_kind"]


class TaskBase(TaskFields, abc.ABC):
    """A task kind: the shared fields (name, split sizes, data seed; :class:`TaskFields`), the
    kind's own fields and checks, the metrics it reports (:attr:`metrics`, each with its
    direction, label and format) and three methods. ``kind: Literal["NAME"]`` names it.

    Override :meth:`chance` when a metric has a level a model that ignores its input reaches."""

    @abc.abstractmethod
    def check_data(self) -> None:
        """The task's own data (read, columns and labels checked) or generator params; no model.
        Raises :class:`~lorasweep.errors.ConfigError`."""

    @abc.abstractmethod
    def check_setup(self, exp: ExperimentConfig) -> None:
        """What every trial of ``exp`` would trip over, without loading weights: the data, the
        tokenizer, the model's architecture with LoRA on ``model.target_modules`` (on PyTorch's
        meta device). Raises :class:`~lorasweep.errors.ConfigError`."""

    @abc.abstractmethod
    def prepare_workload(self, model: ModelConfig) -> Workload:
        """The task's data and base model, prepared for trials (the expensive part: tokenizing,
        pre-training); trials of the same task and model reuse it."""


T = TypeVar("T", bound=type[TaskBase])


def task_kind(cls: T) -> T:
    """Register a task kind (a class decorator): its name comes from ``kind: Literal[...]``, and
    its metrics join the metric registry (a metric name keeps one direction everywhere).
    Registering is all a new kind needs: ``kind: NAME`` in a task file then picks it."""
    name = kind_name(cls)
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TypeError(f"task kind {name} ({cls.__name__}) does not implement {missing}")
    declared = () if cls.task_declares_metrics else cls.metrics  # a python task lists its own
    if not cls.metrics and not cls.task_declares_metrics:
        raise TypeError(f"task kind {name} ({cls.__name__}) declares no metrics; set metrics = (Metric, ...)")
    names = [m.name for m in declared]
    if len(set(names)) != len(names):
        raise TypeError(f"task kind {name} ({cls.__name__}) lists a metric twice: {names}")
    for m in declared:  # every check before anything is registered
        if m.name in METRICS and (known := METRICS.get(m.name).direction) != m.direction:
            raise ValueError(
                f"task kind {name}: metric '{m.name}' is already registered to {known.value}; "
                f"a metric that is to {m.direction.value} needs another name"
            )
    if name in TASK_KINDS and TASK_KINDS.get(name) is not cls:
        raise ValueError(f"task kind '{name}' is already registered (by {TASK_KINDS.get(name).__name__}); rename it")
    for m in declared:
        define_metric(m)
    TASK_KINDS.register(name, cls)
    return cls


def add_lora(
    model: nn.Module, cfg: ModelConfig, *, rank: int, alpha: float, use_rslora: bool = False, task_type: Any = None
) -> PeftModel:
    """Wrap ``model`` with a PEFT LoRA adapter on ``cfg.target_modules``: the one place that does.
    PEFT owns the scaling (α/r or α/√r); ``task_type`` is PEFT's (``"SEQ_CLS"``, None: a plain module)."""
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


@dataclass(frozen=True, kw_only=True)
class TrainBatch:
    """One training batch: the model's keyword inputs, and what it counts for throughput (computed
    on the host, so counting never waits for the device)."""

    inputs: dict[str, torch.Tensor]
    examples: int  # training examples in it (a packed row may hold several)
    tokens: int  # non-padding tokens (inputs that are not text count one per example)


class Workload(abc.ABC):
    """The task-specific half of a trial: the base model, the training batches, the evaluation.
    The training loop (:mod:`lorasweep.train.train`) calls nothing else."""

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

    def with_lora(self, model_cfg: ModelConfig, seed: int, lora: LoraParams) -> PeftModel:
        """The base model with a fresh LoRA adapter of ``lora``'s rank, α and scaling (its init
        fixed by ``seed``)."""
        import torch

        model = self.base_model(model_cfg, seed)
        torch.manual_seed(seed)  # LoRA init (A random, B zero) and dropout
        return add_lora(
            model,
            model_cfg,
            rank=lora.rank,
            alpha=lora.alpha,
            use_rslora=lora.use_rslora,
            task_type=self.peft_task_type,
        )

    @abc.abstractmethod
    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        """Endless shuffled training batches; the order is fixed by ``seed`` (``group_by_length``:
        batches of similar length, where lengths vary)."""

    @abc.abstractmethod
    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Every metric of :attr:`metric_names` on the eval split."""

    def evaluate_test(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float] | None:
        """Every metric of :attr:`metric_names` on the test split: examples disjoint from the eval
        split the search selects on (``task.test_source()`` says how they were made). Seed re-runs
        and ablation trials call it once, at their end. None: this kind has no test split (a kind
        written before test splits existed; its trials store no test metric)."""
        return None
