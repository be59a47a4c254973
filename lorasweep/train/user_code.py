"""Bring your own training code: what a user's callable gets (:class:`Trial`) and how its reports
become lorasweep's (:class:`Reporter`). Importing the callable and running one trial of it are
:mod:`lorasweep.train.user_runner`'s.

The contract, as Optuna's ``objective(trial)`` and Ray's ``train_fn(config)`` have it::

    def fit(trial: lorasweep.Trial) -> PeftModel | None:
        model = get_peft_model(build_my_model(), trial.lora_config)   # r, α, rsLoRA, target modules
        ... train for trial.max_steps steps at trial.lr, seeded with trial.seed ...
        every trial.eval_every steps:  trial.report(step, {"eval_accuracy": acc, "train_loss": loss}, model=model)
        # at max_steps, when trial.evaluate_test (seed re-runs, ablation points): also
        #   trial.report(max_steps, {...eval metrics...}, test={"eval_accuracy": acc_on_your_test_split})
        return model                                                   # optional: the adapter to keep

``report`` records the step's metrics through the same path as lorasweep's own loop, hands them to
the scheduler, and applies the experiment's divergence rule (:mod:`lorasweep.train.divergence`).
When the trial must end early it raises :class:`TrialPruned` (the scheduler stopped it) or
:class:`TrialDiverged` (the rule fired), both :class:`TrialStopped`: let it propagate, or catch it
and stop training (``trial.should_stop`` says the same). Any other exception is the trial's error
(recorded with the user's frame, :func:`lorasweep.train.user_runner.user_error`); the search goes on.

No Ray here: the Ray adapter passes a ``send`` that forwards each report to Tune and turns Tune's
stop into :class:`TrialPruned`. Heavy imports (torch, peft) happen when a trial runs.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lorasweep.cost import device_seconds
from lorasweep.metrics import Direction
from lorasweep.train.divergence import DivergenceRule

if TYPE_CHECKING:
    from lorasweep.train.train import StepReport

__all__ = [
    "Reporter",
    "Trial",
    "TrialDiverged",
    "TrialPruned",
    "TrialStopped",
]

#: Keys of ``report``'s metrics that lorasweep reads itself (besides the declared metrics).
TRAIN_LOSS_KEYS = ("train_loss", "loss")
LR_KEYS = ("lr", "learning_rate")


class TrialStopped(Exception):
    """lorasweep ended this trial early; ``Trial.report`` raises it. Let it propagate out of the
    callable (lorasweep records the trial as stopped, not failed), or catch it and stop training."""


class TrialPruned(TrialStopped):
    """The scheduler (ASHA) stopped the trial at this report, as Optuna's ``TrialPruned``."""


class TrialDiverged(TrialStopped):
    """The experiment's divergence rule fired at this report (see :mod:`lorasweep.train.divergence`)."""


# ---------------------------------------------------------------------------------------------
# The trial object


class Reporter:
    """What happens behind ``Trial.report``: the divergence rule, lorasweep's clock, the adapter
    checkpoint of the best evaluation, and the report itself (``send``: to Ray Tune, which may stop
    the trial by raising :class:`TrialPruned`). The report at ``max_steps`` is the trial's last: it is
    sent, marked complete, when the callable returns (with the adapter it returns, if any)."""

    def __init__(
        self,
        *,
        send: Callable[[StepReport, str | None], None],
        metric: str,
        direction: Direction,
        declared: tuple[str, ...],
        max_steps: int,
        lr: float,
        rule: DivergenceRule,
        gpus: float,
        checkpoints: bool,
    ) -> None:
        self.send, self.metric, self.direction, self.declared = send, metric, direction, declared
        self.max_steps, self.lr, self.rule, self.gpus, self.checkpoints = max_steps, lr, rule, gpus, checkpoints
        self.started = time.perf_counter()
        self.stopped: TrialStopped | None = None
        self.first_loss: float | None = None
        self.loss_sum, self.loss_n = 0.0, 0
        self.last_step = 0
        self.best: float | None = None
        self.final: tuple[StepReport, str | None] | None = None
        self.evaluate_test = False  # set by make_trial: seed re-runs and ablation points
        #: Tune ended the trial's thread at a report (its stop: the scheduler's decision, or the end
        #: of the trial at max_steps); the Tune function must then exit as Tune expects
        self.tune_stopped = False

    def report(
        self, step: int, metrics: Mapping[str, Any], model: Any = None, test: Mapping[str, Any] | None = None
    ) -> None:
        if self.stopped is not None:
            raise type(self.stopped)(str(self.stopped))
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"report(step={step!r}): the step is the optimizer steps done so far, an int >= 1")
        if step > self.max_steps:
            raise ValueError(f"report(step={step}): past the trial's budget (max_steps {self.max_steps}); stop there")
        if step < self.last_step:
            raise ValueError(f"report(step={step}) after a report at step {self.last_step}: steps must not go back")
        if self.final is not None:
            if self.metric not in metrics:  # a training loss logged after the last evaluation
                return
            raise ValueError(f"report(step={step}) after the report at max_steps {self.max_steps}: that one is last")
        loss = _first(metrics, TRAIN_LOSS_KEYS)
        if loss is not None:
            self.first_loss = loss if self.first_loss is None else self.first_loss
            if self.rule.step_diverged(loss, self.first_loss):
                self._diverge(step, f"training loss {loss:.4g} at step {step}")
            self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1
        if test is not None and (step < self.max_steps or self.metric not in metrics):
            raise ValueError(
                f"report(step={step}, test=...): the test metrics go with the evaluation at max_steps "
                f"{self.max_steps}, the trial's last"
            )
        if self.metric not in metrics:  # a training-loss report: nothing for the scheduler
            return
        self.last_step = step
        window = self.loss_sum / self.loss_n if self.loss_n else math.nan
        if self.loss_n and self.first_loss is not None and self.rule.window_diverged(window, self.first_loss):
            self._diverge(step, f"mean training loss {window:.4g} since the last evaluation")
        values = {name: _float(metrics.get(name, math.nan)) for name in self.declared}
        reported = [values[name] for name in self.declared if name in metrics]
        if not all(math.isfinite(v) for v in reported):
            self._diverge(step, "a non-finite metric", values)
        folder = self._checkpoint(values[self.metric], model)
        r = self._step_report(step, values, window, metrics)
        self.loss_sum, self.loss_n = 0.0, 0
        if step >= self.max_steps:
            tested = {name: _float(test[name]) for name in self.declared if name in test} if test else None
            self.final = (replace(r, test_metrics=tested) if tested else r, folder)
            return
        self._send(r, folder)

    def finish(self, returned: Any) -> None:
        """The callable returned: send its last report, marked complete (an error if it never
        reported at ``max_steps`` without being stopped)."""
        from lorasweep.train.train import TrialEnd

        if self.stopped is not None:
            return
        if self.final is None:
            at = f"its last evaluation was at step {self.last_step}" if self.last_step else "it reported no evaluation"
            raise RuntimeError(
                f"the callable returned before the trial's budget: {at}, but every trial trains max_steps "
                f"{self.max_steps} and reports {self.metric} there (or stops when report raises TrialStopped)"
            )
        r, folder = self.final
        if _is_adapter(returned) and self.checkpoints and folder is None and self.best == r.metrics[self.metric]:
            folder = _save(returned)
        self._send(replace(r, end=TrialEnd.COMPLETE, device_seconds=self._clock()), folder)

    def _send(self, r: StepReport, folder: str | None) -> None:
        try:
            self.send(r, folder)
        except TrialPruned as e:
            self.stopped, self.tune_stopped = e, True
            raise
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)  # Ray has copied it to the trial's storage

    def _diverge(self, step: int, why: str, values: dict[str, float] | None = None) -> None:
        from lorasweep.train.train import TrialEnd

        values = values if values is not None else dict.fromkeys(self.declared, math.nan)
        r = replace(self._step_report(step, values, math.nan, {}), end=TrialEnd.DIVERGED)
        self.stopped = TrialDiverged(f"diverged at step {step}: {why} (the experiment's divergence rule)")
        try:
            self.send(r, None)
        except TrialPruned:  # Tune ended the thread on the diverged report: still diverged
            self.tune_stopped = True
        raise self.stopped

    def _checkpoint(self, value: float, model: Any) -> str | None:
        """Save the adapter when this evaluation is the trial's best so far (as lorasweep's loop does)."""
        if not math.isfinite(value) or (self.best is not None and not self.direction.better(value, self.best)):
            return None
        self.best = value
        return _save(model) if self.checkpoints and _is_adapter(model) else None

    def _clock(self) -> float:
        return device_seconds(time.perf_counter() - self.started, self.gpus)

    def _step_report(
        self, step: int, values: dict[str, float], window: float, metrics: Mapping[str, Any]
    ) -> StepReport:
        from lorasweep.train.train import StepReport

        lr = _first(metrics, LR_KEYS)
        return StepReport(
            step=step,
            metrics=values,
            train_loss=window,
            lr=lr if lr is not None else self.lr,
            examples=int(_float(metrics.get("examples", 0))),
            tokens=int(_float(metrics.get("tokens", metrics.get("num_input_tokens_seen", 0)))),
            device_seconds=self._clock(),
        )


def _first(metrics: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    return next((_float(metrics[k]) for k in keys if k in metrics and metrics[k] is not None), None)


def _float(value: Any) -> float:
    if hasattr(value, "item"):  # a tensor or numpy scalar
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"report: {value!r} is not a number; report floats") from None


def _is_adapter(model: Any) -> bool:
    return model is not None and hasattr(model, "save_pretrained") and hasattr(model, "peft_config")


def _save(model: Any) -> str:
    folder = tempfile.mkdtemp(prefix="lorasweep-adapter-")
    model.save_pretrained(folder)  # PEFT format: adapter_config.json + adapter weights (+ modules_to_save)
    return folder


@dataclass(frozen=True, kw_only=True)
class Trial:
    """One trial of a comparison, as the user's callable sees it (keyword-only, read-only).

    Train a LoRA adapter with these settings for ``max_steps`` optimizer steps, evaluate every
    ``eval_every`` steps (and at ``max_steps``), and call :meth:`report` with the metrics. lorasweep
    has seeded Python's ``random``, NumPy and torch with ``seed``; pass it to everything else that
    draws (``TrainingArguments(seed=trial.seed, data_seed=trial.seed)``, a DataLoader's generator)."""

    number: int | None  #: the Optuna trial number in its study (None for a seed re-run)
    space: str  #: the space this trial belongs to (e.g. lr_only, lora_alpha)
    rank: int  #: LoRA rank r
    alpha: float  #: LoRA α (lora_alpha)
    use_rslora: bool  #: scaling α/√r instead of α/r
    lr: float  #: peak learning rate of the LoRA matrices
    loraplus_lr_ratio: float | None  #: LoRA+: B matrices at ratio × lr (None: plain LoRA)
    scaling: float  #: s = α/r (α/√r with rsLoRA)
    effective_step: float  #: s · lr
    seed: int  #: the trial's seed (data order, init, dropout)
    max_steps: int  #: optimizer steps every trial trains (the budget)
    eval_every: int  #: evaluate (and report) every this many steps, and at max_steps
    batch_size: int  #: the experiment's training.batch_size (use it, or your own)
    warmup_ratio: float  #: the experiment's training.warmup_ratio
    weight_decay: float  #: the experiment's training.weight_decay
    head_lr: float | None  #: LR of a new head trained in full (None: the trial's lr)
    device: str  #: "cuda" or "cpu", the device lorasweep gave this trial
    #: lorasweep asks this trial for its metrics on your own test split, data your code never selects
    #: on (a seed re-run or an ablation point): pass them as ``report(max_steps, ..., test={...})``
    evaluate_test: bool
    lora_config: Any  #: a ``peft.LoraConfig`` with r, lora_alpha, use_rslora and the task's target_modules
    params: dict[str, Any]  #: the task's ``params:`` (your own settings)
    _reporter: Reporter = field(repr=False, compare=False)

    def report(
        self, step: int, metrics: Mapping[str, Any], *, model: Any = None, test: Mapping[str, Any] | None = None
    ) -> None:
        """Record ``metrics`` at optimizer step ``step``.

        A report with the experiment's metric (an evaluation) is stored and handed to the
        scheduler; one with only a training loss (``train_loss`` or ``loss``) feeds the divergence
        rule. ``lr``/``learning_rate``, ``examples`` and ``tokens`` are stored when given. With
        ``model`` (a PEFT model), the adapter of the best evaluation is kept for ``lorasweep export``.

        Raises :class:`TrialPruned` when the scheduler stops the trial here and
        :class:`TrialDiverged` when the divergence rule fires: stop training then. Steps never go
        back and never pass ``max_steps``; the report at ``max_steps`` is the last.

        ``test``: the declared metrics on a test split of your own (examples disjoint from those you
        evaluate on), given with the report at ``max_steps`` when :attr:`evaluate_test` is set;
        stored as the trial's test metrics (lorasweep cannot check that your split is disjoint)."""
        self._reporter.report(step, metrics, model, test)

    @property
    def should_stop(self) -> bool:
        """Whether the trial was stopped (pruned or diverged): training should end."""
        return self._reporter.stopped is not None

    @property
    def pruned(self) -> bool:
        """Whether the scheduler stopped the trial."""
        return isinstance(self._reporter.stopped, TrialPruned)

    def optimizer(self, model: Any) -> Any:
        """AdamW over ``model``'s trainable parameters as lorasweep's own loop builds it: the LoRA
        matrices at ``lr`` (LoRA+: B at ratio × lr, with PEFT's optimizer), a new head at ``head_lr``."""
        from lorasweep.scaling import LoraParams
        from lorasweep.train.train import make_optimizer

        lora = LoraParams(
            rank=self.rank,
            alpha=self.alpha,
            lr=self.lr,
            use_rslora=self.use_rslora,
            loraplus_lr_ratio=self.loraplus_lr_ratio,
        )
        return make_optimizer(model, lora, self.head_lr, self.weight_decay, fused=False)
