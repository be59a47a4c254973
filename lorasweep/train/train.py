"""One trial: build the model with a LoRA adapter, train it, evaluate every k steps, report.

This is a plain function with no Ray or database in it (``lorasweep trial`` runs it alone); the
Ray adapter in :mod:`lorasweep.search.ray_adapter.trainable` forwards each :class:`StepReport` to Tune.
Read :func:`run_trial` top to bottom: it is the whole training loop.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from lorasweep.api.task import Workload
from lorasweep.config import ExperimentConfig, LrDecay
from lorasweep.cost import device_seconds
from lorasweep.errors import ConfigError
from lorasweep.scaling import LoraParams
from lorasweep.train.device import DeviceChoice, choose_device, pick_device
from lorasweep.train.diagnostics import LoraDiagnostics, StepDiagnostics, every, resolve
from lorasweep.train.divergence import DivergenceRule


class TrialEnd(enum.StrEnum):
    """How a trial's own loop ended (the scheduler may still stop it earlier: "pruned")."""

    COMPLETE = "complete"
    DIVERGED = "diverged"


@dataclass(frozen=True, kw_only=True)
class StepReport:
    """What a trial reports at an evaluation (or at divergence)."""

    step: int
    metrics: dict[str, float]  # every metric the task's kind declares (NaN when diverged)
    train_loss: float  # mean training loss since the previous report
    lr: float  # learning rate at this step
    examples: int  # training examples seen so far
    tokens: int  # non-padding training tokens seen so far
    device_seconds: float  # device time used so far
    end: TrialEnd | None = None  # set on the trial's last report
    # mean signal, drift and drift ratio of the steps measured since the previous report (NaN: none)
    signal: float = math.nan
    drift: float = math.nan
    drift_ratio: float = math.nan
    device: str | None = None  # what the trial trains on (lorasweep.train.device.DeviceChoice.describe)
    # every metric on the test split, on the last report of a trial asked to evaluate it (seed
    # re-runs and ablation points); None: not evaluated
    test_metrics: dict[str, float] | None = None

    def as_dict(self) -> dict[str, float | int | str | None]:
        out = {k: v for k, v in asdict(self).items() if k not in ("metrics", "end", "test_metrics")}
        out.update(self.metrics)
        out.update({as_test_key(name): value for name, value in (self.test_metrics or {}).items()})
        out["end"] = self.end.value if self.end else None
        return out


#: A test metric's key in a report's dict (``test/accuracy``): never a metric's own name.
TEST_PREFIX = "test/"


def as_test_key(metric: str) -> str:
    return TEST_PREFIX + metric


def read_test_metrics(result: dict[str, object]) -> dict[str, float]:
    """The test metrics in a report's dict (:meth:`StepReport.as_dict`), by metric name."""
    return {k.removeprefix(TEST_PREFIX): float(v) for k, v in result.items() if k.startswith(TEST_PREFIX)}  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class TrialOutcome:
    end: TrialEnd
    steps: int
    final_metrics: dict[str, float]
    diverged_step: int | None = None
    reports: list[StepReport] = field(default_factory=list)


Reporter = Callable[[StepReport], None]


def lr_lambda(decay: LrDecay, warmup: int, total: int) -> Callable[[int], float]:
    """Linear warmup to the peak LR, then linear or cosine decay to 0 (or constant)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == LrDecay.CONSTANT:
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if decay == LrDecay.COSINE:
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    return factor


def param_groups(model: torch.nn.Module, lr: float, head_lr: float | None) -> list[dict]:
    """The LoRA matrices train at the trial's LR; the new task head (PEFT's ``modules_to_save``,
    trained in full) at ``head_lr`` when one is set, else at the same LR."""
    lora, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if head_lr is not None and "modules_to_save" in name else lora).append(p)
    groups = [{"params": lora, "lr": lr}]
    if head:
        groups.append({"params": head, "lr": head_lr})
    return groups


def make_optimizer(
    model: torch.nn.Module, lora: LoraParams, head_lr: float | None, weight_decay: float, fused: bool
) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters. With LoRA+ (``lora.loraplus_lr_ratio``) it is PEFT's
    LoRA+ optimizer (B matrices at ratio × LR); ``head_lr``, when set, moves the new head's
    parameters into a group of their own in either case."""
    if lora.loraplus_lr_ratio is None:
        return torch.optim.AdamW(
            param_groups(model, lora.lr, head_lr), lr=lora.lr, weight_decay=weight_decay, fused=fused
        )
    from peft.optimizers import create_loraplus_optimizer

    optimizer = create_loraplus_optimizer(
        model,
        torch.optim.AdamW,
        lr=lora.lr,
        loraplus_lr_ratio=lora.loraplus_lr_ratio,
        loraplus_weight_decay=weight_decay,
        fused=fused,
    )
    if head_lr is not None:
        head = {id(p) for name, p in model.named_parameters() if p.requires_grad and "modules_to_save" in name}
        moved = []
        for group in optimizer.param_groups:
            moved += [p for p in group["params"] if id(p) in head]
            group["params"] = [p for p in group["params"] if id(p) not in head]
        optimizer.add_param_group({"params": moved, "lr": head_lr, "weight_decay": weight_decay})
    return optimizer


def mean_diagnostics(measured: list[StepDiagnostics]) -> tuple[float, float, float]:
    """Mean signal, drift and drift ratio over the measured steps (NaN when none were measured)."""
    if not measured:
        return math.nan, math.nan, math.nan
    ratios = [d.drift_ratio for d in measured if math.isfinite(d.drift_ratio)]
    return (
        sum(d.signal for d in measured) / len(measured),
        sum(d.drift for d in measured) / len(measured),
        sum(ratios) / len(ratios) if ratios else math.nan,
    )


def check_setup(exp: ExperimentConfig) -> None:
    """What every trial would trip over, checked once before the search (no weights loaded): the
    batch size, the task's data, the model and its ``target_modules`` (the task's kind checks
    what it needs), the device."""
    if not exp.task.runs_user_code and exp.training.batch_size > exp.task.n_train:
        raise ConfigError(
            f"training.batch_size ({exp.training.batch_size}) exceeds task.n_train ({exp.task.n_train}); lower it"
        )
    exp.task.check_setup(exp)
    pick_device(exp.training.device)


#: Called at each evaluation, before its report, with the report and the model (to checkpoint it).
Checkpointer = Callable[[StepReport, torch.nn.Module], None]


def run_trial(
    exp: ExperimentConfig,
    lora: LoraParams,
    *,
    seed: int,
    report: Reporter,
    workload: Workload | None = None,
    checkpoint: Checkpointer | None = None,
    device_choice: DeviceChoice | None = None,
    test: bool = False,
) -> TrialOutcome:
    """Fine-tune ``exp.model`` with LoRA ``lora`` on ``exp.task``; call ``report`` every k steps.

    ``workload`` is the task's prepared data and base model (``exp.task.prepare_workload``; built here
    when not given). ``checkpoint`` sees each evaluation's report and the model just before the
    report is made (the Ray adapter saves the adapter when the value improved). ``device_choice``:
    the device and the GPU share (the Ray adapter passes the GPUs Ray assigned); without it,
    ``training.device`` decides (:func:`lorasweep.train.device.choose_device`). ``test``: evaluate
    the test split once, at the end of a complete trial (seed re-runs and ablation points; the
    search selects on the eval split and never sees it); its metrics go in the last report."""
    started = time.perf_counter()
    cfg, budget = exp.training, exp.budget
    chosen = device_choice or choose_device(exp, None)
    device, gpus, device_name = chosen.device, chosen.share, chosen.describe()
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    work = workload or exp.task.prepare_workload(exp.model)
    model = work.with_lora(exp.model, seed, lora).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, lora, cfg.head_lr, cfg.weight_decay, fused=device.type == "cuda")
    warmup = int(cfg.warmup_ratio * budget.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg.lr_decay, warmup, budget.max_steps))

    batches = work.train_batches(cfg.batch_size, seed, cfg.group_by_length)
    # Dynamo treats module parameters as inputs: later trials in the same worker (same shapes)
    # reuse the first trial's compiled code instead of compiling again.
    forward = torch.compile(model) if cfg.compile else model
    diagnostics = LoraDiagnostics(model) if cfg.diagnostics_every else None
    # On a GPU the inner loop never waits for the device: step losses and diagnostics stay device
    # tensors until the next evaluation (a sync point anyway), where divergence is checked step by
    # step (the diverged step is exact; the steps after it are wasted). On a CPU, where waiting
    # costs nothing, every step is checked as it ends.
    check_each_step = device.type != "cuda"
    rule = DivergenceRule(step_factor=cfg.divergence_factor, window_factor=cfg.divergence_window_factor)
    losses: list[torch.Tensor] = []
    squares: list[torch.Tensor] = []
    reports: list[StepReport] = []
    examples = tokens = 0
    first_loss: float | None = None
    loss_sum, loss_n = 0.0, 0

    def emit(
        step: int, metrics: dict[str, float], end: TrialEnd | None, test_metrics: dict[str, float] | None = None
    ) -> StepReport:
        nonlocal loss_sum, loss_n
        signal, drift, ratio = mean_diagnostics([resolve(sq) for sq in squares])
        squares.clear()
        r = StepReport(
            step=step,
            metrics=metrics,
            train_loss=loss_sum / max(loss_n, 1),
            lr=schedule.get_last_lr()[0],
            examples=examples,
            tokens=tokens,
            device_seconds=device_seconds(time.perf_counter() - started, gpus),
            end=end,
            signal=signal,
            drift=drift,
            drift_ratio=ratio,
            device=device_name,
            test_metrics=test_metrics,
        )
        loss_sum, loss_n = 0.0, 0
        reports.append(r)
        report(r)
        return r

    def first_divergence(step: int) -> int | None:
        """Bring the losses since the last check to the host; the first diverged step, if any."""
        nonlocal first_loss, loss_sum, loss_n
        values = torch.stack(losses).float().cpu().tolist() if losses else []
        first_step = step - len(values) + 1
        losses.clear()
        for i, value in enumerate(values):
            first_loss = value if first_loss is None else first_loss
            if rule.step_diverged(value, first_loss):
                return first_step + i
            loss_sum, loss_n = loss_sum + value, loss_n + 1
        return None

    def diverged_at(step: int) -> TrialOutcome:
        emit(step, dict.fromkeys(work.metric_names, math.nan), TrialEnd.DIVERGED)
        return TrialOutcome(
            end=TrialEnd.DIVERGED, steps=step, final_metrics=reports[-1].metrics, diverged_step=step, reports=reports
        )

    for step in range(1, budget.max_steps + 1):
        batch = next(batches)
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.inputs.items()}
        with autocast:
            loss = forward(**inputs).loss
        losses.append(loss.detach())
        if (step == 1 or check_each_step) and (diverged := first_divergence(step)) is not None:
            return diverged_at(diverged)
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        measure = diagnostics is not None and every(step, cfg.diagnostics_every)
        if measure:
            diagnostics.before_step()
        optimizer.step()
        if measure:
            squares.append(diagnostics.after_step_squares())
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        examples += batch.examples
        tokens += batch.tokens

        if step % budget.eval_every == 0 or step == budget.max_steps:
            if (diverged := first_divergence(step)) is not None:
                return diverged_at(diverged)
            if loss_n and first_loss is not None and rule.window_diverged(loss_sum / loss_n, first_loss):
                return diverged_at(step)
            metrics = work.evaluate(model, cfg.eval_batch_size, device, autocast)
            if not all(math.isfinite(v) for v in metrics.values()):  # e.g. eval loss overflowed
                emit(step, metrics, TrialEnd.DIVERGED)
                return TrialOutcome(
                    end=TrialEnd.DIVERGED, steps=step, final_metrics=metrics, diverged_step=step, reports=reports
                )
            if checkpoint is not None:
                progress = StepReport(
                    step=step,
                    metrics=metrics,
                    train_loss=0.0,
                    lr=0.0,
                    examples=examples,
                    tokens=tokens,
                    device_seconds=0.0,
                )
                checkpoint(progress, model)
            last = step == budget.max_steps
            tested = work.evaluate_test(model, cfg.eval_batch_size, device, autocast) if test and last else None
            emit(step, metrics, TrialEnd.COMPLETE if last else None, tested)

    return TrialOutcome(
        end=TrialEnd.COMPLETE, steps=budget.max_steps, final_metrics=reports[-1].metrics, reports=reports
    )
