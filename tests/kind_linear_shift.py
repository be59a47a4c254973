"""A task kind defined outside lorasweep, the way README's "Extending lorasweep" says: one module,
one ``@task_kind`` class with its schema, metrics, workload and checks. Nothing else is edited.

``linear_shift``: a frozen random linear map ``y = w₀·x`` (lorasweep's MLP with one layer),
LoRA-adapted to a shifted map ``y = (w₀ + δ)·x``. It brings its own model (``builtin:linear``)
and reports the eval MSE and a metric of its own, the mean absolute error (``mae``).

As every kind module, it imports torch only inside the methods that run: a kind module is
imported when configs are validated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from lorasweep.api import TaskBase, TrainBatch, Workload, add_lora, task_kind
from lorasweep.config import Float, Int, ModelConfig
from lorasweep.metrics import EVAL_LOSS, Direction, Metric

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.config import ExperimentConfig

MAE = Metric(
    name="mae",
    direction=Direction.MINIMIZE,
    description="mean absolute error on the eval split",
    label="MAE",
    notation="fixed",
    digits=4,
)


@task_kind
class LinearShiftTask(TaskBase):
    """Adapt a frozen linear map to a shifted one."""

    kind: Literal["linear_shift"]
    features: Int = Field(8, ge=1, description="inputs of the linear map")
    shift: Float = Field(1.0, gt=0, description="size of the shift δ relative to ‖w₀‖")

    metrics = (MAE, EVAL_LOSS)
    builtin_model = "builtin:linear"

    def check_data(self) -> None:
        """Nothing to read: the schema has checked every field the data depends on."""

    def check_setup(self, exp: ExperimentConfig) -> None:
        import torch

        from lorasweep.train.synthetic import Mlp

        with torch.device("meta"):
            add_lora(Mlp(self.features, 1, 1), exp.model, rank=exp.ranks[0], alpha=1.0)

    def prepare_workload(self, model: ModelConfig) -> LinearShiftWorkload:
        return LinearShiftWorkload(self)


class LinearShiftWorkload(Workload):
    """The frozen map and the shifted problem's data (fixed by the task's ``data_seed``)."""

    peft_task_type = None

    def __init__(self, task: LinearShiftTask) -> None:
        import torch

        from lorasweep.train.synthetic import Mlp

        self.task = task
        gen = torch.Generator().manual_seed(task.data_seed)
        self.base = Mlp(task.features, 1, 1)  # one linear layer, layers.0
        with torch.no_grad():
            w0 = torch.randn(1, task.features, generator=gen)
            delta = torch.randn(1, task.features, generator=gen)
            self.base.layers[0].weight.copy_(w0)
            self.base.layers[0].bias.zero_()
            target = w0 + task.shift * w0.norm() * delta / delta.norm()
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.train_x = torch.randn(task.n_train, task.features, generator=gen)
        self.eval_x = torch.randn(task.n_eval, task.features, generator=gen)
        self.train_y = (self.train_x @ target.T).squeeze(-1)
        self.eval_y = (self.eval_x @ target.T).squeeze(-1)
        self.test_x = torch.randn(task.test_size, task.features, generator=gen)  # a third draw
        self.test_y = (self.test_x @ target.T).squeeze(-1)

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        import copy

        return copy.deepcopy(self.base).train()

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        from lorasweep.train.data import batch_indices

        for index in batch_indices(len(self.train_x), batch_size, seed):
            inputs = {"inputs": self.train_x[index], "labels": self.train_y[index]}
            yield TrainBatch(inputs=inputs, examples=len(index), tokens=len(index))

    def evaluate(self, model: nn.Module, batch_size: int, device: torch.device, autocast: Any) -> dict[str, float]:
        return self._errors(self.eval_x, self.eval_y, model, device, autocast)

    def evaluate_test(self, model: nn.Module, batch_size: int, device: torch.device, autocast: Any) -> dict[str, float]:
        return self._errors(self.test_x, self.test_y, model, device, autocast)

    def _errors(
        self, x: torch.Tensor, y: torch.Tensor, model: nn.Module, device: torch.device, autocast: Any
    ) -> dict[str, float]:
        import torch

        model.eval()
        with torch.no_grad(), autocast:
            pred = model(inputs=x.to(device)).logits.float().cpu()
        model.train()
        error = pred - y
        return {MAE.name: float(error.abs().mean()), EVAL_LOSS.name: float((error**2).mean())}
