"""What a trial trains on, per task kind: the base model, the batches, the loss and the metrics.

:func:`run_trial <lorasweep.trials.train.run_trial>` is one loop for every task kind; the kind
specific parts live behind :class:`~lorasweep.trials.base.Workload`:

- :class:`ClassificationWorkload` (``kind: generated`` or ``classification``): a transformers
  sequence-classification model and tokenized text (or text pairs), accuracy / macro F1 / eval loss;
- :class:`RegressionWorkload` (``kind: synthetic_regression``): the ablation's pre-trained MLP
  (:mod:`lorasweep.trials.synthetic`) and its shifted problem, eval loss (MSE);
- :class:`~lorasweep.trials.sft.CausalLmWorkload` (``kind: causal_lm_sft``): a causal LM trained on
  prompt → completion pairs, eval loss / perplexity / exact match (:mod:`lorasweep.trials.sft`).

:func:`prepare_workload` builds one (the expensive part: tokenizing, pre-training); trials reuse it.
:func:`check_workload` is the cheap preflight that loads no weights.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from peft import TaskType
from torch import nn

from lorasweep.config import ExperimentConfig, ModelConfig, TaskConfig, TaskKind
from lorasweep.errors import ConfigError
from lorasweep.trials import data as task_data
from lorasweep.trials import synthetic
from lorasweep.trials.base import Workload, add_lora
from lorasweep.trials.data import TrainBatch
from lorasweep.trials.model import Head, base_model, check_model, load_tokenizer
from lorasweep.trials.sources import Examples, load_examples, load_pairs


class ClassificationWorkload(Workload):
    peft_task_type = TaskType.SEQ_CLS

    def __init__(self, task: TaskConfig, model_cfg: ModelConfig) -> None:
        self.task = task
        tokenizer = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        train, evaluation = classification_examples(task)
        self.train = task_data.encode(tokenizer, train.texts, train.labels, task.max_length, train.pairs)
        self.eval = task_data.encode(tokenizer, evaluation.texts, evaluation.labels, task.max_length, evaluation.pairs)

    @property
    def num_labels(self) -> int:
        assert self.task.num_labels is not None  # the schema requires it for this kind
        return self.task.num_labels

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        return base_model(model_cfg, self.num_labels, seed)

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        return task_data.train_batches(self.train, batch_size, seed, group_by_length)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Accuracy, macro F1 and mean loss on the eval split."""
        model.eval()
        loss_sum, preds = 0.0, []
        for batch in task_data.eval_batches(self.eval, batch_size):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                out = model(**batch)
            loss_sum += float(out.loss) * batch["labels"].shape[0]
            preds.append(out.logits.argmax(dim=-1).cpu())
        model.train()
        pred, gold = torch.cat(preds), self.eval.labels
        f1s = []
        for label in range(self.num_labels):
            tp = int(((pred == label) & (gold == label)).sum())
            fp = int(((pred == label) & (gold != label)).sum())
            fn = int(((pred != label) & (gold == label)).sum())
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        return {
            "accuracy": float((pred == gold).float().mean()),
            "f1": sum(f1s) / self.num_labels,
            "eval_loss": loss_sum / len(self.eval),
        }


class RegressionWorkload(Workload):
    peft_task_type = None  # a plain torch module: PEFT's generic PeftModel

    def __init__(self, task: TaskConfig) -> None:
        self.task = task
        self.data = synthetic.mlp_shift(task.params, task.name, task.n_train, task.n_eval, task.data_seed)

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        model = copy.deepcopy(self.data.base)
        model.train()
        return model

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        x, y = self.data.train_x, self.data.train_y  # fixed-size inputs: nothing to group
        for index in task_data.batch_indices(len(x), batch_size, seed):
            yield TrainBatch({"inputs": x[index], "labels": y[index]}, len(index), len(index))

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Mean squared error on the eval split (targets have unit variance: 1.0 is a constant guess)."""
        model.eval()
        total = 0.0
        x, y = self.data.eval_x, self.data.eval_y
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            with autocast:
                total += float(model(inputs=xb, labels=yb).loss) * len(xb)
        model.train()
        return {"eval_loss": total / len(x)}


def classification_examples(task: TaskConfig) -> tuple[Examples, Examples]:
    """``(train, eval)`` examples of a classification task: generated, or read from its data source."""
    if task.kind == TaskKind.CLASSIFICATION:
        return load_examples(task)
    (train_x, train_y), (eval_x, eval_y) = task_data.generate(task)
    return Examples(train_x, train_y), Examples(eval_x, eval_y)


def prepare_workload(task: TaskConfig, model_cfg: ModelConfig) -> Workload:
    """Build the task's data (and, for the synthetic task, its pre-trained base)."""
    if task.kind == TaskKind.SYNTHETIC_REGRESSION:
        return RegressionWorkload(task)
    if task.kind == TaskKind.CAUSAL_LM_SFT:
        from lorasweep.trials.sft import CausalLmWorkload

        return CausalLmWorkload(task, model_cfg)
    return ClassificationWorkload(task, model_cfg)


def check_task(task: TaskConfig) -> None:
    """The task's own data (read, columns and labels checked) or generator params; no model."""
    if task.kind == TaskKind.SYNTHETIC_REGRESSION:
        synthetic.check_params(task.params, task.name)
    elif task.kind == TaskKind.CAUSAL_LM_SFT:
        load_pairs(task)
    else:
        classification_examples(task)


def check_workload(exp: ExperimentConfig) -> None:
    """What every trial would trip over, without loading weights or pre-training: the task's data
    or generator params, the batch size, the model and its ``target_modules``."""
    task = exp.task
    if exp.training.batch_size > task.n_train:
        raise ConfigError(
            f"training.batch_size ({exp.training.batch_size}) exceeds task.n_train ({task.n_train}); lower it"
        )
    if task.kind == TaskKind.SYNTHETIC_REGRESSION:
        p = synthetic.check_params(task.params, task.name)
        with torch.device("meta"):
            add_lora(synthetic.Mlp(p.in_features, p.width, p.depth), exp.model, exp.ranks[0], 1.0, False, None)
        return
    if task.kind == TaskKind.CAUSAL_LM_SFT:
        from lorasweep.trials.sft import check_sft

        check_sft(task, exp.model)
        model = check_model(exp.model, None, Head.CAUSAL_LM)
        task_type = TaskType.CAUSAL_LM
    else:
        classification_examples(task)
        assert task.num_labels is not None
        model = check_model(exp.model, task.num_labels)
        task_type = TaskType.SEQ_CLS
    with torch.device("meta"):
        add_lora(model, exp.model, exp.ranks[0], 1.0, False, task_type)
