"""``kind: classification``: sequence classification on a dataset (HF hub, or local JSONL / CSV /
Parquet files, ``data:``), with a transformers sequence-classification model (a new head on the
base) and accuracy / macro F1 / eval loss.

:class:`LabelledTextTask` is what every text-classification kind shares (the workload, the
checks, the metrics and their chance level); ``generated`` (:mod:`lorasweep.kinds.generated`)
builds on it with generated examples instead of a dataset.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from lorasweep.config import DataSource, Int, ModelConfig, TaskBase, check_columns, task_kind
from lorasweep.metrics import ACCURACY, EVAL_LOSS, F1
from lorasweep.train.base import Workload

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.config import ExperimentConfig
    from lorasweep.train.data import TrainBatch
    from lorasweep.train.sources import Examples

__all__ = ["ClassificationTask", "ClassificationWorkload", "LabelledTextTask"]


class LabelledTextTask(TaskBase):
    """Texts (or text pairs) with integer labels ``0..num_labels-1``; a subclass says where the
    examples come from (:meth:`examples`)."""

    num_labels: Int = Field(ge=2, description="classes, e.g. num_labels: 2")
    max_length: Int = Field(64, ge=4, description="tokens per example, truncated beyond")

    metrics = (ACCURACY, F1, EVAL_LOSS)

    @abc.abstractmethod
    def examples(self) -> tuple[Examples, Examples]:
        """``(train, eval)`` examples, the same on every call."""

    def chance(self, metric: str) -> float | None:
        """Accuracy of a model that ignores its input, on a balanced eval set: 1/num_labels."""
        return 1.0 / self.num_labels if metric == ACCURACY.name else None

    def check_data(self) -> None:
        self.examples()

    def check_setup(self, exp: ExperimentConfig) -> None:
        import torch

        from lorasweep.train.base import add_lora
        from lorasweep.train.model import check_model

        self.examples()
        model = check_model(exp.model, self.num_labels)
        with torch.device("meta"):
            add_lora(model, exp.model, exp.ranks[0], 1.0, False, ClassificationWorkload.peft_task_type)

    def prepare_workload(self, model: ModelConfig) -> ClassificationWorkload:
        return ClassificationWorkload(self, model)


@task_kind
class ClassificationTask(LabelledTextTask):
    """Sequence classification on a dataset's text (or text pair) and label columns."""

    kind: Literal["classification"]
    data: DataSource = Field(description="where the data is: {path: HUB_ID_OR_FILE, columns: {text, label}}")

    @field_validator("data")
    @classmethod
    def _columns(cls, data: DataSource) -> DataSource:
        return check_columns(data, "classification", ("text", "text_pair", "label"))

    def examples(self) -> tuple[Examples, Examples]:
        from lorasweep.train.sources import load_examples

        return load_examples(self)


class ClassificationWorkload(Workload):
    """A sequence-classification model on tokenized texts: accuracy, macro F1 and eval loss."""

    peft_task_type = "SEQ_CLS"

    def __init__(self, task: LabelledTextTask, model_cfg: ModelConfig) -> None:
        from lorasweep.train.data import encode
        from lorasweep.train.model import load_tokenizer

        self.task = task
        self.num_labels = task.num_labels
        tokenizer = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        train, evaluation = task.examples()
        self.train = encode(tokenizer, train.texts, train.labels, task.max_length, train.pairs)
        self.eval = encode(tokenizer, evaluation.texts, evaluation.labels, task.max_length, evaluation.pairs)

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        from lorasweep.train.model import base_model

        return base_model(model_cfg, self.num_labels, seed)

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        from lorasweep.train.data import train_batches

        return train_batches(self.train, batch_size, seed, group_by_length)

    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Accuracy, macro F1 and mean loss on the eval split."""
        import torch

        from lorasweep.train.data import eval_batches

        model.eval()
        loss_sum, preds = 0.0, []
        with torch.no_grad():
            for batch in eval_batches(self.eval, batch_size):
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
            ACCURACY.name: float((pred == gold).float().mean()),
            F1.name: sum(f1s) / self.num_labels,
            EVAL_LOSS.name: loss_sum / len(self.eval),
        }
