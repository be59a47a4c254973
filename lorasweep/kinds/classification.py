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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from lorasweep.api import TaskBase, TrainBatch, Workload, task_kind
from lorasweep.api.head import Head, sequence_classification
from lorasweep.config import DataSource, Int, ModelConfig, check_columns
from lorasweep.metrics import ACCURACY, EVAL_LOSS, F1

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.config import ExperimentConfig

__all__ = [
    "ClassificationTask",
    "ClassificationWorkload",
    "Encoded",
    "Examples",
    "LabelledTextTask",
    "encode",
    "label_ids",
]

#: The columns a classification task reads, by role, with their defaults (None: optional).
COLUMNS: dict[str, str | None] = {"text": "text", "text_pair": None, "label": "label"}


@dataclass(frozen=True, kw_only=True)
class Examples:
    """Texts (and the second texts of pair tasks) with their label ids."""

    texts: list[str]
    labels: list[int]
    pairs: list[str] | None = None  # the second text of pair tasks


class LabelledTextTask(TaskBase):
    """Texts (or text pairs) with integer labels ``0..num_labels-1``; a subclass says where the
    examples come from (:meth:`examples`)."""

    num_labels: Int = Field(ge=2, description="classes, e.g. num_labels: 2")
    max_length: Int = Field(64, ge=4, description="tokens per example, truncated beyond")

    metrics = (ACCURACY, F1, EVAL_LOSS)

    @abc.abstractmethod
    def examples(self) -> tuple[Examples, Examples]:
        """``(train, eval)`` examples, the same on every call."""

    @abc.abstractmethod
    def test_examples(self) -> Examples:
        """``n_test`` examples none of which is a train or eval example, the same on every call."""

    def chance(self, metric: str) -> float | None:
        """Accuracy of a model that ignores its input, on a balanced eval set: 1/num_labels."""
        return 1.0 / self.num_labels if metric == ACCURACY.name else None

    @property
    def head(self) -> Head:
        """A new sequence-classification head of ``num_labels``."""
        return sequence_classification(self.num_labels)

    def check_data(self) -> None:
        self.examples()
        self.test_examples()

    def check_setup(self, exp: ExperimentConfig) -> None:
        import torch

        from lorasweep.api import add_lora
        from lorasweep.train.model import check_model

        self.check_data()
        model = check_model(exp.model, head=self.head)
        with torch.device("meta"):
            add_lora(model, exp.model, rank=exp.ranks[0], alpha=1.0, task_type=self.head.peft_task_type)

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
        return check_columns(data, "classification", COLUMNS)

    def examples(self) -> tuple[Examples, Examples]:
        """The train and eval examples of ``data`` (read once per process; labels checked)."""
        from lorasweep.train.sources import load_columns

        train, evaluation = load_columns(self, self._columns_read, texts=("text", "text_pair"))
        return self._examples(train, "train"), self._examples(evaluation, "eval")

    def test_examples(self) -> Examples:
        """The test rows of ``data`` (``data.test_split``, or held out of the train split)."""
        from lorasweep.train.sources import load_test_columns

        return self._examples(load_test_columns(self, self._columns_read, texts=("text", "text_pair")), "test")

    @property
    def _columns_read(self) -> dict[str, str]:
        return {role: name for role, name in self.data.columns.items() if name is not None}

    def _examples(self, split: dict[str, list[Any]], part: str) -> Examples:
        from lorasweep.train.datafiles import check_classes

        labels = label_ids(split["label"], self.data, self.num_labels)
        check_classes(labels, part, self.num_labels)
        return Examples(texts=split["text"], labels=labels, pairs=split.get("text_pair"))


def label_ids(values: list[Any], src: DataSource, num_labels: int) -> list[int]:
    """The label column as ids ``0..num_labels-1``: names looked up in ``data.label_names``, else
    integer values; anything else is a ConfigError naming the field."""
    from lorasweep.errors import ConfigError

    if src.label_names is not None:
        ids = {name: i for i, name in enumerate(src.label_names)}
        unknown = sorted({str(v) for v in values if str(v) not in ids})
        if unknown:
            raise ConfigError(f"task data.label_names: labels {unknown[:5]} are not listed; add them in id order")
        out = [ids[str(v)] for v in values]
    else:
        if any(isinstance(v, (str, bool)) or not float(v).is_integer() for v in values):
            raise ConfigError(
                "task data.columns.label: the labels are not integer ids; list the names in data.label_names"
            )
        out = [int(v) for v in values]
    bad = [v for v in out if not 0 <= v < num_labels]
    if bad:
        raise ConfigError(
            f"task num_labels is {num_labels} but the data has label {bad[0]} (ids run 0..num_labels-1); "
            "raise num_labels or fix the labels (unlabelled test splits use -1: evaluate on another split)"
        )
    return out


# ---------------------------------------------------------------------------------------------
# Encoding


@dataclass(frozen=True, kw_only=True)
class Encoded:
    """Token ids padded to the longest example, with the true length of each."""

    input_ids: torch.Tensor  # (n, longest) int64
    attention_mask: torch.Tensor  # (n, longest) int64
    labels: torch.Tensor  # (n,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows ``index`` with padding trimmed to the longest row in the batch (dynamic padding)."""
        mask = self.attention_mask[index]
        width = int(mask.sum(dim=1).max())
        return {
            "input_ids": self.input_ids[index, :width],
            "attention_mask": mask[:, :width],
            "labels": self.labels[index],
        }

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        """Endless shuffled batches; the order is fixed by ``seed`` alone."""
        from lorasweep.train.data import batch_indices

        lengths = self.attention_mask.sum(dim=1) if group_by_length else None
        for index in batch_indices(len(self), batch_size, seed, lengths):
            inputs = self.batch(index)
            yield TrainBatch(inputs=inputs, examples=len(index), tokens=int(inputs["attention_mask"].sum()))

    def eval_batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The rows in order, ``batch_size`` at a time."""
        import torch

        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))))


def encode(tokenizer: Any, examples: Examples, max_length: int) -> Encoded:
    """Tokenize (text, optional second text) with the model's tokenizer, truncated to ``max_length``."""
    import torch

    enc = tokenizer(
        examples.texts, examples.pairs, padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return Encoded(
        input_ids=enc["input_ids"].long(),
        attention_mask=enc["attention_mask"].long(),
        labels=torch.tensor(examples.labels, dtype=torch.long),
    )


class ClassificationWorkload(Workload):
    """A sequence-classification model on tokenized texts: accuracy, macro F1 and eval loss."""

    def __init__(self, task: LabelledTextTask, model_cfg: ModelConfig) -> None:
        from lorasweep.train.model import load_tokenizer

        self.task = task
        self.num_labels = task.num_labels
        self.head = task.head
        self.peft_task_type = self.head.peft_task_type
        tokenizer = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        train, evaluation = task.examples()
        self.train = encode(tokenizer, train, task.max_length)
        self.eval = encode(tokenizer, evaluation, task.max_length)
        self.test = encode(tokenizer, task.test_examples(), task.max_length)

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        from lorasweep.train.model import base_model

        return base_model(model_cfg, seed, head=self.head)

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        return self.train.train_batches(batch_size, seed, group_by_length)

    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Accuracy, macro F1 and mean loss on the eval split."""
        return self._evaluate(self.eval, model, batch_size, device, autocast)

    def evaluate_test(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """The same metrics on the test split."""
        return self._evaluate(self.test, model, batch_size, device, autocast)

    def _evaluate(
        self, data: Encoded, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        import torch

        model.eval()
        loss_sum, preds = 0.0, []
        with torch.no_grad():
            for batch in data.eval_batches(batch_size):
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with autocast:
                    out = model(**batch)
                loss_sum += float(out.loss) * batch["labels"].shape[0]
                preds.append(out.logits.argmax(dim=-1).cpu())
        model.train()
        pred, gold = torch.cat(preds), data.labels
        f1s = []
        for label in range(self.num_labels):
            tp = int(((pred == label) & (gold == label)).sum())
            fp = int(((pred == label) & (gold != label)).sum())
            fn = int(((pred != label) & (gold == label)).sum())
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        return {
            ACCURACY.name: float((pred == gold).float().mean()),
            F1.name: sum(f1s) / self.num_labels,
            EVAL_LOSS.name: loss_sum / len(data),
        }
