"""``LorasweepCallback``: a ``transformers.TrainerCallback`` that hands a Trainer's metrics to
lorasweep. Works with ``Trainer`` and every TRL trainer (``SFTTrainer`` subclasses ``Trainer``)::

    def fit(trial):
        model = get_peft_model(AutoModelForSequenceClassification.from_config(...), trial.lora_config)
        args = TrainingArguments(
            output_dir=..., max_steps=trial.max_steps, learning_rate=trial.lr, seed=trial.seed,
            eval_strategy="steps", eval_steps=trial.eval_every, logging_steps=1, report_to=[],
        )
        Trainer(model=model, args=args, train_dataset=..., eval_dataset=...,
                callbacks=[LorasweepCallback(trial)]).train()
        return model

``on_evaluate`` reports the evaluation's metrics (HF names them ``eval_*``: declare those names in
the experiment), with the model, so the best adapter is kept; ``on_log`` reports the training loss,
which feeds the divergence rule. When the scheduler prunes the trial or the rule fires, the callback
sets ``control.should_training_stop``: the Trainer ends after the current step and ``fit`` returns.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lorasweep.train.user_code import Trial, TrialStopped

__all__ = ["LorasweepCallback"]


class LorasweepCallback(TrainerCallback):
    """Forward a Trainer's evaluations (``on_evaluate``) and training loss (``on_log``) to
    ``trial.report``; stop training when lorasweep stops the trial (pruned or diverged)."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial

    def _report(self, step: int, metrics: dict[str, Any], control: TrainerControl, model: Any = None) -> None:
        if self.trial.should_stop:
            control.should_training_stop = True
            return
        try:
            self.trial.report(step, metrics, model=model)
        except TrialStopped:
            control.should_training_stop = True
            control.should_save = False

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """The training loss HF logs every ``logging_steps`` (evaluation logs go through ``on_evaluate``)."""
        if logs and "loss" in logs and state.global_step >= 1:
            self._report(state.global_step, {"train_loss": logs["loss"]}, control)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """An evaluation's metrics (``eval_*``), with the model for the adapter checkpoint."""
        if metrics and state.global_step >= 1:
            self._report(state.global_step, dict(metrics), control, kwargs.get("model"))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.trial.should_stop:
            control.should_training_stop = True
