"""A token-classification task kind defined outside lorasweep in one module, as README's
"Extending lorasweep" says: its schema and data columns, its metric (with label and format), its
head (transformers' ``AutoModelForTokenClassification``, PEFT's ``TOKEN_CLS``), how it reads its
dataset (lists of words and of tags per row, not texts and one label), how it encodes them (word
pieces, a tag on each word's first piece) and how it evaluates. No lorasweep file is edited.

``token_tags``: ``data:`` rows with ``tokens`` (a list of words) and ``tags`` (one tag id per word);
``token_accuracy`` is the share of words tagged right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from lorasweep.api import Head, TaskBase, TrainBatch, Workload, add_lora, task_kind
from lorasweep.config import DataSource, Int, ModelConfig, check_columns
from lorasweep.metrics import EVAL_LOSS, Direction, Metric

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.config import ExperimentConfig

TOKEN_ACCURACY = Metric(
    name="token_accuracy",
    direction=Direction.MAXIMIZE,
    description="share of eval words whose tag is right",
    label="Token accuracy",
    notation="fixed",
    digits=3,
)
#: The label of word pieces that carry no tag (special tokens, a word's later pieces, padding).
IGNORE = -100


@task_kind
class TokenTagsTask(TaskBase):
    """Tag every word of a sentence."""

    kind: Literal["token_tags"]
    data: DataSource = Field(description="rows of {tokens: [word, ...], tags: [id, ...]}")
    num_labels: Int = Field(ge=2, description="tag ids run 0..num_labels-1")
    max_length: Int = Field(32, ge=4, description="word pieces per row, cut beyond")

    metrics = (TOKEN_ACCURACY, EVAL_LOSS)

    @field_validator("data")
    @classmethod
    def _columns(cls, data: DataSource) -> DataSource:
        return check_columns(data, "token_tags", {"tokens": "tokens", "tags": "tags"})

    @property
    def head(self) -> Head:
        return Head(
            auto_class="AutoModelForTokenClassification",
            what="a token-classification model",
            config=(("num_labels", self.num_labels),),
            peft_task_type="TOKEN_CLS",
        )

    def rows(self) -> tuple[tuple[list[list[str]], list[list[int]]], tuple[list[list[str]], list[list[int]]]]:
        """``((words, tags), (words, tags))`` of the train and eval rows."""
        from lorasweep.errors import ConfigError
        from lorasweep.train.sources import load_columns

        train, evaluation = load_columns(self, {k: v for k, v in self.data.columns.items() if v is not None})
        for split in (train, evaluation):
            for words, tags in zip(split["tokens"], split["tags"], strict=True):
                if len(words) != len(tags) or not all(0 <= t < self.num_labels for t in tags):
                    raise ConfigError(f"task {self.name}: a row has {len(words)} words, tags {tags}; one id per word")
        return (train["tokens"], train["tags"]), (evaluation["tokens"], evaluation["tags"])

    def test_rows(self) -> tuple[list[list[str]], list[list[int]]]:
        """``(words, tags)`` of the test rows (``data.test_split``, or held out of the train split)."""
        from lorasweep.train.sources import load_test_columns

        test = load_test_columns(self, {k: v for k, v in self.data.columns.items() if v is not None})
        return test["tokens"], test["tags"]

    def check_data(self) -> None:
        self.rows()
        self.test_rows()

    def check_setup(self, exp: ExperimentConfig) -> None:
        import torch

        from lorasweep.train.model import check_model

        self.rows()
        model = check_model(exp.model, head=self.head)
        with torch.device("meta"):
            add_lora(model, exp.model, rank=exp.ranks[0], alpha=1.0, task_type=self.head.peft_task_type)

    def prepare_workload(self, model: ModelConfig) -> TokenTagsWorkload:
        return TokenTagsWorkload(self, model)


class TokenTagsWorkload(Workload):
    """Word pieces with a tag on each word's first piece."""

    def __init__(self, task: TokenTagsTask, model_cfg: ModelConfig) -> None:
        from lorasweep.train.model import load_tokenizer

        self.task = task
        self.peft_task_type = task.head.peft_task_type
        tokenizer = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        (train_words, train_tags), (eval_words, eval_tags) = task.rows()
        self.train = self._encode(tokenizer, train_words, train_tags)
        self.eval = self._encode(tokenizer, eval_words, eval_tags)
        self.test = self._encode(tokenizer, *task.test_rows())

    def _encode(self, tokenizer: Any, words: list[list[str]], tags: list[list[int]]) -> dict[str, torch.Tensor]:
        import torch

        enc = tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.task.max_length,
            padding="longest",
            return_tensors="pt",
        )
        labels = torch.full_like(enc["input_ids"], IGNORE)
        for row, row_tags in enumerate(tags):
            previous = None
            for position, word in enumerate(enc.word_ids(row)):
                if word is not None and word != previous:
                    labels[row, position] = row_tags[word]
                previous = word
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        from lorasweep.train.model import base_model

        return base_model(model_cfg, seed, head=self.task.head)

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        from lorasweep.train.data import batch_indices

        for index in batch_indices(len(self.train["labels"]), batch_size, seed):
            inputs = {k: v[index] for k, v in self.train.items()}
            yield TrainBatch(inputs=inputs, examples=len(index), tokens=int(inputs["attention_mask"].sum()))

    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        return self._evaluate(self.eval, model, batch_size, device, autocast)

    def evaluate_test(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        return self._evaluate(self.test, model, batch_size, device, autocast)

    def _evaluate(
        self,
        data: dict[str, torch.Tensor],
        model: nn.Module,
        batch_size: int,
        device: torch.device,
        autocast: torch.autocast,
    ) -> dict[str, float]:
        import torch

        model.eval()
        right = total = 0
        loss_sum = 0.0
        with torch.no_grad():
            for start in range(0, len(data["labels"]), batch_size):
                batch = {k: v[start : start + batch_size].to(device) for k, v in data.items()}
                with autocast:
                    out = model(**batch)
                tagged = batch["labels"] != IGNORE
                n = int(tagged.sum())
                right += int((out.logits.argmax(-1)[tagged] == batch["labels"][tagged]).sum())
                total += n
                loss_sum += float(out.loss) * n
        model.train()
        return {TOKEN_ACCURACY.name: right / max(total, 1), EVAL_LOSS.name: loss_sum / max(total, 1)}
