from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from peft import TaskType

from lorasweep.config import load_experiment
from lorasweep.scaling import LoraParams
from lorasweep.train.train import StepReport, TrialEnd, run_trial

TINY = Path(__file__).parent / "data" / "tiny.yaml"


def _run(lr: float, alpha: float = 8.0, steps: int = 200, seed: int = 0) -> tuple[list[StepReport], object]:
    # head_lr null: the new head trains at the trial's LR too, so the LR alone decides what is learned
    exp = load_experiment(TINY, {"budget.max_steps": steps, "budget.eval_every": steps // 4, "training.head_lr": None})
    reports: list[StepReport] = []
    outcome = run_trial(exp, LoraParams(rank=4, alpha=alpha, lr=lr), seed=seed, report=reports.append)
    return reports, outcome


def test_tiny_model_learns_well_above_chance_at_a_sensible_lr() -> None:
    reports, outcome = _run(lr=1e-2)
    assert outcome.end == TrialEnd.COMPLETE
    assert [r.step for r in reports] == [50, 100, 150, 200]
    first, last = reports[0], reports[-1]
    assert last.metrics["accuracy"] >= 0.85  # chance is ~0.52 (majority class)
    assert last.metrics["eval_loss"] < first.metrics["eval_loss"]
    assert last.examples == 200 * 16 and last.tokens > last.examples
    assert 0 < first.device_seconds < last.device_seconds


def test_a_tiny_lr_stays_at_chance() -> None:
    reports, _ = _run(lr=1e-6, steps=40)
    assert reports[-1].metrics["accuracy"] < 0.6


def test_overflowing_update_ends_the_trial_as_diverged_at_step_two() -> None:
    # Deterministic on every CPU: step 1 (B = 0) has a finite loss; its AdamW update moves every
    # weight by ~LR = 1e30, so step 2's logits overflow float32 (or exceed 10x the first loss).
    reports, outcome = _run(lr=1e30, alpha=4096.0, steps=200)
    assert outcome.end == TrialEnd.DIVERGED and outcome.diverged_step == 2
    assert reports[-1].end == TrialEnd.DIVERGED and reports[-1].step == 2
    assert all(math.isnan(v) for v in reports[-1].metrics.values())


class _LossScaled:
    """The tiny workload, but training losses after step ``after`` are multiplied by ``factor``
    (evaluation untouched): a loss blow-up that does not depend on rounding."""

    def __init__(self, work: object, after: int, factor: float) -> None:
        self._work, self.after, self.factor = work, after, factor

    def __getattr__(self, name: str) -> object:
        return getattr(self._work, name)

    def with_lora(self, *args: object) -> torch.nn.Module:
        model = self._work.with_lora(*args)
        calls = [0]

        def scale(module: torch.nn.Module, _args: object, output: object) -> object:
            if module.training:
                calls[0] += 1
                if calls[0] > self.after:
                    output.loss = output.loss * self.factor
            return output

        model.register_forward_hook(scale)
        return model


@pytest.mark.parametrize("window_factor", [2.0, None])
def test_a_window_of_blown_up_loss_is_diverged_at_its_evaluation(window_factor: float | None) -> None:
    overrides = {"budget.max_steps": 40, "budget.eval_every": 10, "training.head_lr": None}
    exp = load_experiment(TINY, {**overrides, "training.divergence_window_factor": window_factor})
    # LR 1e-6 (head included) leaves the loss at its initial level, so steps 11-20 sit near 4x the first loss: above
    # the window rule's 2x, below the step rule's 10x (a margin of 2x on both sides).
    work = _LossScaled(exp.task.prepare_workload(exp.model), after=10, factor=4.0)
    reports: list[StepReport] = []
    outcome = run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-6), seed=0, report=reports.append, workload=work)
    if window_factor is None:  # the rule turned off: the same run completes
        assert outcome.end == TrialEnd.COMPLETE and [r.step for r in reports] == [10, 20, 30, 40]
        return
    assert outcome.end == TrialEnd.DIVERGED and outcome.diverged_step == 20
    assert [r.step for r in reports] == [10, 20] and reports[0].end is None
    assert reports[-1].train_loss > 2 * reports[0].train_loss
    assert math.isnan(reports[-1].metrics["accuracy"])


def test_divergence_rule() -> None:
    from lorasweep.train.divergence import DivergenceRule

    rule = DivergenceRule(step_factor=10.0, window_factor=2.0)
    assert rule.step_diverged(math.nan, 1.0) and rule.step_diverged(math.inf, 1.0)
    assert rule.step_diverged(10.5, 1.0) and not rule.step_diverged(9.5, 1.0)
    assert rule.window_diverged(2.5, 1.0) and not rule.window_diverged(1.5, 1.0)
    assert rule.window_diverged(math.nan, 1.0)
    assert not DivergenceRule(step_factor=10.0, window_factor=None).window_diverged(100.0, 1.0)
    assert rule.step_diverged(1e-6, 0.0)  # a first loss of 0 is floored, not a division by zero


def test_seed_fixes_data_order_and_lora_init() -> None:
    a, _ = _run(lr=3e-3, steps=40, seed=7)
    b, _ = _run(lr=3e-3, steps=40, seed=7)
    c, _ = _run(lr=3e-3, steps=40, seed=8)
    key = [(r.train_loss, r.metrics["eval_loss"]) for r in a]
    assert key == [(r.train_loss, r.metrics["eval_loss"]) for r in b]
    assert key != [(r.train_loss, r.metrics["eval_loss"]) for r in c]


@pytest.mark.parametrize("use_rslora", [False, True])
def test_trial_applies_the_scaling_it_records(use_rslora: bool) -> None:
    from lorasweep.api import add_lora, sequence_classification
    from lorasweep.train.model import base_model

    exp = load_experiment(TINY)
    p = LoraParams(rank=4, alpha=32.0, lr=1e-3, use_rslora=use_rslora)
    model = add_lora(
        base_model(exp.model, 0, head=sequence_classification(2)),
        exp.model,
        rank=p.rank,
        alpha=p.alpha,
        use_rslora=p.use_rslora,
        task_type=TaskType.SEQ_CLS,
    )
    layer = model.base_model.model.bert.encoder.layer[0].attention.self.query
    assert layer.scaling["default"] == pytest.approx(p.scaling)


def test_head_lr_gives_the_new_head_its_own_learning_rate() -> None:
    from lorasweep.api import add_lora, sequence_classification
    from lorasweep.train.model import base_model
    from lorasweep.train.train import param_groups

    exp = load_experiment(TINY)
    model = add_lora(
        base_model(exp.model, 0, head=sequence_classification(2)),
        exp.model,
        rank=4,
        alpha=8.0,
        task_type=TaskType.SEQ_CLS,
    )
    same = param_groups(model, 1e-5, None)
    assert len(same) == 1 and same[0]["lr"] == 1e-5
    lora, head = param_groups(model, 1e-5, 1e-3)
    assert head["lr"] == 1e-3 and lora["lr"] == 1e-5
    assert sum(p.numel() for p in head["params"]) == 32 * 2 + 2  # classifier weight and bias


def test_reports_carry_signal_and_drift_at_the_configured_cadence() -> None:
    exp = load_experiment(TINY, {"budget.max_steps": 20, "budget.eval_every": 10, "training.diagnostics_every": 2})
    reports: list[StepReport] = []
    run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-2), seed=0, report=reports.append)
    for r in reports:
        assert r.signal > 0 and r.drift >= 0 and math.isfinite(r.drift_ratio)
    off = load_experiment(TINY, {"budget.max_steps": 20, "budget.eval_every": 10, "training.diagnostics_every": 0})
    silent: list[StepReport] = []
    run_trial(off, LoraParams(rank=4, alpha=8.0, lr=1e-2), seed=0, report=silent.append)
    assert all(math.isnan(r.signal) and math.isnan(r.drift_ratio) for r in silent)
    # measuring does not change training
    assert [r.train_loss for r in reports] == [r.train_loss for r in silent]


@pytest.mark.parametrize("head_lr", [None, 1e-3])
def test_loraplus_uses_peft_optimizer_with_b_at_ratio_times_lr(head_lr: float | None) -> None:
    from lorasweep.api import add_lora, sequence_classification
    from lorasweep.train.model import base_model
    from lorasweep.train.train import make_optimizer

    exp = load_experiment(TINY)
    model = add_lora(
        base_model(exp.model, 0, head=sequence_classification(2)),
        exp.model,
        rank=4,
        alpha=8.0,
        task_type=TaskType.SEQ_CLS,
    )
    lora = LoraParams(rank=4, alpha=8.0, lr=1e-4, loraplus_lr_ratio=16.0)
    optimizer = make_optimizer(model, lora, head_lr, 0.0, fused=False)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert set(lr_of) == {id(p) for p in trainable.values()}  # every trainable parameter, once
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(trainable)
    for name, p in trainable.items():
        if "modules_to_save" in name and head_lr is not None:
            assert lr_of[id(p)] == head_lr
        elif "lora_B" in name:
            assert lr_of[id(p)] == pytest.approx(1.6e-3)
        elif "lora_A" in name:
            assert lr_of[id(p)] == 1e-4


def test_loraplus_space_searches_the_ratio_and_a_trial_runs() -> None:
    from lorasweep.space.resolve import at_rank, distributions, load_space, resolve

    space = at_rank(load_space("loraplus"), 4, load_experiment(TINY).effective_step)
    assert set(distributions(space)) == {"lr", "loraplus_lr_ratio"}
    lora = resolve(space, {"lr": 1e-3, "loraplus_lr_ratio": 8.0}, 4)
    assert lora.loraplus_lr_ratio == 8.0 and lora.alpha == 8
    exp = load_experiment(TINY, {"budget.max_steps": 20, "budget.eval_every": 10})
    reports: list[StepReport] = []
    assert run_trial(exp, lora, seed=0, report=reports.append).end == TrialEnd.COMPLETE


def test_bf16_base_keeps_float32_lora_weights_and_trains() -> None:
    exp = load_experiment(TINY, {"model.dtype": "bfloat16", "budget.max_steps": 20, "budget.eval_every": 10})
    work = exp.task.prepare_workload(exp.model)
    model = work.with_lora(exp.model, 0, LoraParams(rank=4, alpha=8.0, lr=1e-3))
    dtypes = {n.split(".")[-2] if "lora_" in n else "base": p.dtype for n, p in model.named_parameters()}
    assert dtypes["base"] == torch.bfloat16 and dtypes["default"] == torch.float32  # PEFT upcasts the adapter
    outcome = run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=3e-3), seed=0, report=lambda r: None, workload=work)
    assert outcome.end == TrialEnd.COMPLETE and math.isfinite(outcome.final_metrics["eval_loss"])


def test_gradient_checkpointing_gives_the_same_training() -> None:
    plain, _ = _run(3e-3, steps=20)
    exp = load_experiment(
        TINY,
        {
            "model.gradient_checkpointing": True,
            "budget.max_steps": 20,
            "budget.eval_every": 5,
            "training.head_lr": None,
        },
    )
    checkpointed: list[StepReport] = []
    run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=3e-3), seed=0, report=checkpointed.append)
    assert [r.train_loss for r in checkpointed] == pytest.approx([r.train_loss for r in plain], rel=1e-4)
