"""``kind: synthetic_regression``: the matched-step ablation's task. A small MLP, pre-trained on
one generated regression problem, is LoRA-adapted to a shifted one (:mod:`lorasweep.train.synthetic`);
the task brings its own model (``model.name_or_path: builtin:mlp``) and reports the eval MSE."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from lorasweep.api import TaskBase, TrainBatch, Workload, task_kind
from lorasweep.config import ModelConfig
from lorasweep.metrics import EVAL_LOSS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.config import ExperimentConfig

__all__ = ["BUILTIN_MLP", "RegressionWorkload", "SyntheticRegressionTask"]

#: The model name of this kind's MLP (built by the task itself).
BUILTIN_MLP = "builtin:mlp"


@task_kind
class SyntheticRegressionTask(TaskBase):
    """The ``mlp_shift`` problem; ``params`` are :class:`~lorasweep.train.synthetic.MlpShift`'s."""

    kind: Literal["synthetic_regression"]
    generator: Literal["mlp_shift"] = Field("mlp_shift", description="the one generator: mlp_shift")
    params: dict[str, Any] = Field(default_factory=dict, description="mlp_shift's arguments (width, depth, shift, ...)")

    metrics = (EVAL_LOSS,)
    builtin_model = BUILTIN_MLP

    def check_data(self) -> None:
        from lorasweep.train import synthetic

        synthetic.check_params(self.params, self.name)

    def check_setup(self, exp: ExperimentConfig) -> None:
        import torch

        from lorasweep.api import add_lora
        from lorasweep.train import synthetic

        p = synthetic.check_params(self.params, self.name)
        with torch.device("meta"):
            add_lora(synthetic.Mlp(p.in_features, p.width, p.depth), exp.model, rank=exp.ranks[0], alpha=1.0)

    def prepare_workload(self, model: ModelConfig) -> RegressionWorkload:
        return RegressionWorkload(self)


class RegressionWorkload(Workload):
    """The pre-trained MLP and the shifted problem's data; eval loss is the MSE."""

    peft_task_type = None  # a plain torch module: PEFT's generic PeftModel

    def __init__(self, task: SyntheticRegressionTask) -> None:
        from lorasweep.train import synthetic

        self.task = task
        self.data = synthetic.mlp_shift(
            task.params, task.name, task.n_train, task.n_eval, task.data_seed, task.test_size
        )

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        model = copy.deepcopy(self.data.base)
        model.train()
        return model

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        from lorasweep.train.data import batch_indices

        x, y = self.data.train_x, self.data.train_y  # fixed-size inputs: nothing to group
        for index in batch_indices(len(x), batch_size, seed):
            yield TrainBatch(inputs={"inputs": x[index], "labels": y[index]}, examples=len(index), tokens=len(index))

    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Mean squared error on the eval split (targets have unit variance: 1.0 is a constant guess)."""
        return self._mse(self.data.eval_x, self.data.eval_y, model, batch_size, device, autocast)

    def evaluate_test(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Mean squared error on the test split (drawn after every other example)."""
        return self._mse(self.data.test_x, self.data.test_y, model, batch_size, device, autocast)

    def _mse(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        model: nn.Module,
        batch_size: int,
        device: torch.device,
        autocast: torch.autocast,
    ) -> dict[str, float]:
        import torch

        model.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
                with autocast:
                    total += float(model(inputs=xb, labels=yb).loss) * len(xb)
        model.train()
        return {EVAL_LOSS.name: total / len(x)}
