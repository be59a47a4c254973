"""The built-in synthetic task of the matched-step ablation: a small MLP, pre-trained on one
generated regression problem, then LoRA-adapted to a shifted one.

A random *teacher* MLP defines the first problem, ``y = T(x)``. The *shifted* teacher adds a
low-rank perturbation to each of its weight matrices (``W + shift·‖W‖·U·Vᵀ/‖U·Vᵀ‖``), which
defines the second problem. The *student* (same shape as the teacher) is pre-trained on the first
problem with Adam; that student is the frozen base the trials adapt to the second problem with
LoRA on every linear layer. All of it is fixed by the task's ``data_seed``, so every trial of an
experiment adapts the same base to the same data, and it takes a few seconds on one CPU core.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass

import torch
from torch import nn

from lorasweep.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class MlpShift:
    """Parameters of the ``mlp_shift`` generator (a task's ``params``)."""

    in_features: int = 16
    width: int = 64
    depth: int = 5  # linear layers, output layer included
    shift: float = 0.5  # size of each layer's perturbation relative to the layer's norm
    shift_rank: int = 4
    noise: float = 0.0  # label noise (std, in units of the target's std)
    pretrain_steps: int = 1500
    pretrain_lr: float = 3e-3

    def __post_init__(self) -> None:
        checks = {
            "in_features": self.in_features >= 1,
            "width": self.width >= 2,
            "depth": self.depth >= 2,
            "shift": self.shift >= 0,
            "shift_rank": 1 <= self.shift_rank <= min(self.width, self.in_features),
            "noise": self.noise >= 0,
            "pretrain_steps": self.pretrain_steps >= 1,
            "pretrain_lr": self.pretrain_lr > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(
                f"task params.{bad[0]} = {getattr(self, bad[0])!r} is out of range; "
                "need in_features ≥ 1, width ≥ 2, depth ≥ 2, shift ≥ 0, 1 ≤ shift_rank ≤ min(width, in_features), "
                "noise ≥ 0, pretrain_steps ≥ 1, pretrain_lr > 0"
            )

    @classmethod
    def from_params(cls, task_name: str, params: dict) -> MlpShift:
        try:
            return cls(**params)
        except TypeError as e:
            known = ", ".join(cls.__dataclass_fields__)
            raise ConfigError(f"task {task_name}: bad params for generator 'mlp_shift' ({e}); known: {known}") from e


@dataclass(frozen=True, kw_only=True)
class RegressionOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor


class Mlp(nn.Module):
    """``depth`` linear layers (``layers.0`` … ``layers.{depth-1}``) with tanh between them."""

    def __init__(self, in_features: int, width: int, depth: int) -> None:
        super().__init__()
        sizes = [in_features] + [width] * (depth - 1) + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))

    @property
    def target_modules(self) -> list[str]:
        return [f"layers.{i}" for i in range(len(self.layers))]

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> RegressionOutput:
        h = inputs
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
        pred = h.squeeze(-1)
        loss = None if labels is None else nn.functional.mse_loss(pred, labels)
        return RegressionOutput(loss=loss, logits=pred)


def _teacher(p: MlpShift, gen: torch.Generator) -> Mlp:
    teacher = Mlp(p.in_features, p.width, p.depth)
    with torch.no_grad():
        for layer in teacher.layers:
            fan_in = layer.weight.shape[1]
            # gain 1.5 keeps tanh in its curved range, so the target is not nearly linear
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 1.5 / fan_in**0.5)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.1)
    return teacher


def _shifted(teacher: Mlp, p: MlpShift, gen: torch.Generator) -> Mlp:
    shifted = Mlp(p.in_features, p.width, p.depth)
    shifted.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        for layer in shifted.layers:
            d_out, d_in = layer.weight.shape
            k = min(p.shift_rank, d_out, d_in)
            delta = torch.randn(d_out, k, generator=gen) @ torch.randn(k, d_in, generator=gen)
            layer.weight.add_(p.shift * layer.weight.norm() * delta / delta.norm())
    return shifted


@dataclass(frozen=True, kw_only=True)
class SyntheticData:
    base: Mlp  # the pre-trained student (frozen base of every trial)
    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    test_x: torch.Tensor  # drawn after every other example: the test split
    test_y: torch.Tensor
    pretrain_loss: float  # the base's MSE on the first problem after pre-training
    base_eval_loss: float  # the base's MSE on the shifted problem before adaptation


@functools.lru_cache(maxsize=2)
def _build(params_json: str, task_name: str, n_train: int, n_eval: int, data_seed: int, n_test: int) -> SyntheticData:
    p = MlpShift.from_params(task_name, json.loads(params_json))
    gen = torch.Generator().manual_seed(data_seed)
    teacher = _teacher(p, gen)
    shifted = _shifted(teacher, p, gen)
    with torch.no_grad():
        probe = torch.randn(4096, p.in_features, generator=gen)
        mean, std = float(teacher(probe).logits.mean()), float(teacher(probe).logits.std()) or 1.0

    def target(model: Mlp, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (model(x).logits - mean) / std

    # Pre-train the student on the first problem, with fresh samples each step.
    torch.manual_seed(data_seed)
    student = Mlp(p.in_features, p.width, p.depth)
    opt = torch.optim.Adam(student.parameters(), lr=p.pretrain_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, p.pretrain_steps)
    for _ in range(p.pretrain_steps):
        x = torch.randn(256, p.in_features, generator=gen)
        loss = student(x, target(teacher, x)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    student.eval()
    for param in student.parameters():
        param.requires_grad_(False)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, p.in_features, generator=gen)
        y = target(shifted, x)
        if p.noise:
            y = y + p.noise * torch.randn(n, generator=gen)
        return x, y

    train_x, train_y = split(n_train)
    eval_x, eval_y = split(n_eval)
    with torch.no_grad():
        check_x = torch.randn(2048, p.in_features, generator=gen)
        pretrain_loss = float(student(check_x, target(teacher, check_x)).loss)
        base_eval_loss = float(student(eval_x, eval_y).loss)
    test_x, test_y = split(n_test)  # a third draw, after everything above (which it leaves unchanged)
    return SyntheticData(
        base=student,
        train_x=train_x,
        train_y=train_y,
        eval_x=eval_x,
        eval_y=eval_y,
        test_x=test_x,
        test_y=test_y,
        pretrain_loss=pretrain_loss,
        base_eval_loss=base_eval_loss,
    )


def mlp_shift(
    params: dict, task_name: str, n_train: int, n_eval: int, data_seed: int, n_test: int | None = None
) -> SyntheticData:
    """The pre-trained base and the shifted problem's data (cached per process); ``n_test`` test
    examples (default ``n_eval``) are drawn after all the rest."""
    return _build(json.dumps(params, sort_keys=True), task_name, n_train, n_eval, data_seed, n_test or n_eval)


def check_params(params: dict, task_name: str) -> MlpShift:
    """Validate the generator's params without building anything (preflight)."""
    return MlpShift.from_params(task_name, params)
