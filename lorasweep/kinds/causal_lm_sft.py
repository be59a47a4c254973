"""``kind: causal_lm_sft``: causal-LM supervised fine-tuning on a dataset's prompt → completion
pairs (``data:``), or on pairs a registered generator makes (``generator:``, ``params:``; see
:mod:`lorasweep.train.instructions`). The loss is on the completion only, in the tokenizer's chat template when it
has one; tokenizing, packing and padding are :mod:`lorasweep.train.sft`'s.

Metrics: ``eval_loss``, the mean cross-entropy per completion token over the eval split;
``perplexity``, its exponential; ``exact_match``, greedy generation of up to ``max_new_tokens``
tokens per eval prompt, the answer pulled out of it and of the reference completion by
``answer:`` (:func:`lorasweep.kinds.answers.extract_answer`), compared.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lorasweep.api import TaskBase, Workload, task_kind
from lorasweep.api.head import causal_lm
from lorasweep.config import DataSource, Int, ModelConfig, check_columns
from lorasweep.kinds.answers import AnswerConfig, exact_match
from lorasweep.metrics import EVAL_LOSS, EXACT_MATCH, PERPLEXITY

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lorasweep.api import TrainBatch
    from lorasweep.config import ExperimentConfig
    from lorasweep.train.sft import Example

__all__ = [
    "CausalLmSftTask",
    "CausalLmWorkload",
    "Pairs",
]

#: The columns a causal_lm_sft task reads, by role, with their defaults.
COLUMNS: dict[str, str | None] = {"prompt": "prompt", "completion": "completion"}


@dataclass(frozen=True, kw_only=True)
class Pairs:
    """Prompt → completion examples."""

    prompts: list[str]
    completions: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


@task_kind
class CausalLmSftTask(TaskBase):
    """Prompt → completion pairs from a dataset, for a causal LM."""

    kind: Literal["causal_lm_sft"]
    generator: str | None = Field(
        None, description="instead of data: a pair generator of lorasweep.train.instructions, e.g. instructions"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="generator arguments")
    data: DataSource | None = Field(  # after generator: its validator reads it
        None,
        validate_default=True,
        description="where the data is: {path: HUB_ID_OR_FILE, columns: {prompt: COLUMN, completion: COLUMN}}",
    )
    max_length: Int = Field(64, ge=4, description="tokens per example (prompt and completion), cut beyond")
    chat_template: bool = Field(
        True, description="wrap prompt and completion in the tokenizer's chat template, if it has one"
    )
    answer: AnswerConfig | None = Field(None, description="how exact match extracts the answer")
    max_new_tokens: Int = Field(64, ge=1, description="tokens generated per eval prompt (exact match)")
    packing: bool = Field(False, description="pack several examples into each max_length row (no padding waste)")

    metrics = (EVAL_LOSS, PERPLEXITY, EXACT_MATCH)

    @field_validator("data")
    @classmethod
    def _columns(cls, data: DataSource | None, info: ValidationInfo) -> DataSource | None:
        if (data is None) == (info.data.get("generator") is None):
            what = "is required" if data is None else "and generator are both given"
            raise ValueError(
                f"{what}: give exactly one of data ({{path: HUB_ID_OR_FILE, columns: {{prompt: COLUMN, "
                "completion: COLUMN}}) and generator (generated pairs, e.g. generator: instructions)"
            )
        if data is None:
            return None
        if data.label_names is not None:
            raise ValueError("label_names is for classification tasks; remove it")
        return check_columns(data, "causal_lm_sft", COLUMNS)

    @model_validator(mode="after")
    def _one_source(self) -> CausalLmSftTask:
        if self.params and self.generator is None:
            raise ValueError("params are the generator's arguments; remove them or add a generator")
        return self

    def pairs(self) -> tuple[Pairs, Pairs]:
        """``(train, eval)`` prompt → completion pairs: from ``data`` (loaded once per process), or
        made by ``generator`` from ``data_seed`` (``n_train`` then ``n_eval`` of them)."""
        if self.data is not None:
            from lorasweep.train.sources import load_columns

            columns = {k: v for k, v in self.data.columns.items() if v is not None}
            train, evaluation = load_columns(self, columns, texts=("prompt", "completion"))

            def pairs(split: dict[str, list]) -> Pairs:
                return Pairs(prompts=split["prompt"], completions=split["completion"])

            return pairs(train), pairs(evaluation)
        prompts, completions = self._generate(self.n_train + self.n_eval, random.Random(self.data_seed))
        n = self.n_train
        return (
            Pairs(prompts=prompts[:n], completions=completions[:n]),
            Pairs(prompts=prompts[n:], completions=completions[n:]),
        )

    @property
    def answer_rule(self) -> AnswerConfig:
        """The exact-match extractor (default: the whole completion, stripped)."""
        return self.answer or AnswerConfig()

    def test_pairs(self) -> Pairs:
        """``n_test`` pairs none of which is a train or eval pair: rows of ``data`` (its
        ``test_split``, or held out of the train split) or the generator's draws after the train
        and eval pairs (a prompt also among those is skipped)."""
        if self.data is not None:
            from lorasweep.train.sources import load_test_columns

            columns = {k: v for k, v in self.data.columns.items() if v is not None}
            test = load_test_columns(self, columns, texts=("prompt", "completion"))
            return Pairs(prompts=test["prompt"], completions=test["completion"])
        from lorasweep.kinds.disjoint import draw_unseen, held_out_rng

        train, evaluation = self.pairs()
        seen = {*train.prompts, *evaluation.prompts}
        prompts, completions = draw_unseen(
            lambda n: self._generate(n, held_out_rng(self.data_seed)), seen, self.test_size, "prompts"
        )
        return Pairs(prompts=prompts, completions=completions)

    def _generate(self, n: int, rng: random.Random) -> tuple[list[str], list[str]]:
        """``n`` pairs of the generator, drawn from ``rng``."""
        from lorasweep.errors import ConfigError
        from lorasweep.train.instructions import get_pair_generator

        assert self.generator is not None  # _one_source
        fn = get_pair_generator(self.generator, self.name)
        try:
            return fn(n, rng, **self.params)
        except TypeError as e:
            raise ConfigError(f"task {self.name}: bad params for generator '{self.generator}' ({e})") from e

    def check_data(self) -> None:
        self.pairs()
        self.test_pairs()

    def check_setup(self, exp: ExperimentConfig) -> None:
        """The data and its columns, a tokenizer that can end a completion, a chat template that
        renders, and the causal LM's architecture with LoRA (on the meta device)."""
        import torch

        from lorasweep.api import add_lora
        from lorasweep.errors import ConfigError
        from lorasweep.train import sft
        from lorasweep.train.model import check_model, load_tokenizer

        train, _ = self.pairs()
        self.test_pairs()
        tokenizer = load_tokenizer(exp.model.name_or_path, exp.model.trust_remote_code)
        sft.padding_id(tokenizer, exp.model)
        chat = sft.uses_chat_template(tokenizer, self.chat_template)
        if not chat and tokenizer.eos_token_id is None:
            raise ConfigError(
                f"model.name_or_path '{exp.model.name_or_path}': the tokenizer has no EOS token to end completions "
                "and no chat template; use a causal-LM tokenizer"
            )
        sft.tokenize_pair(tokenizer, train.prompts[0], train.completions[0], self.max_length, chat)
        model = check_model(exp.model, head=causal_lm())
        with torch.device("meta"):
            add_lora(model, exp.model, rank=exp.ranks[0], alpha=1.0, task_type=causal_lm().peft_task_type)

    def prepare_workload(self, model: ModelConfig) -> CausalLmWorkload:
        return CausalLmWorkload(self, model)


# ---------------------------------------------------------------------------------------------
# The workload


@dataclass(frozen=True, kw_only=True)
class EvalSet:
    """Pairs to evaluate on (eval or test), shortest first: their rows, prompts and completions."""

    rows: Any  # lorasweep.train.sft.Rows, one pair per row
    prompts: list[list[int]]  # prompt token ids, for generation
    references: list[str]  # the completions, for exact match


class CausalLmWorkload(Workload):
    """A causal LM trained on the completions of tokenized prompt → completion pairs."""

    peft_task_type = causal_lm().peft_task_type

    def __init__(self, task: CausalLmSftTask, model_cfg: ModelConfig) -> None:
        from lorasweep.train import sft
        from lorasweep.train.model import load_tokenizer

        self.task = task
        self.tokenizer = tok = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        self.pad_id = sft.padding_id(tok, model_cfg)
        chat = sft.uses_chat_template(tok, task.chat_template)
        train, evaluation = task.pairs()
        self.train_examples = self._tokenize(train, chat)
        if task.packing:
            self.train = sft.pack(self.train_examples, task.max_length, self.pad_id)
        else:
            self.train = sft.one_per_row(self.train_examples, self.pad_id)
        self.eval_set = self._eval_set(evaluation, chat)
        self.test_set = self._eval_set(task.test_pairs(), chat)
        self.eos_ids = sorted({i for i in (tok.eos_token_id, self.pad_id) if i is not None})

    def _eval_set(self, pairs: Pairs, chat: bool) -> EvalSet:
        """Pairs to evaluate on, sorted by length (padding is small; every metric is order-free)."""
        from lorasweep.train import sft

        examples = self._tokenize(pairs, chat)
        by_length = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
        return EvalSet(
            rows=sft.one_per_row([examples[i] for i in by_length], self.pad_id),
            prompts=[examples[i].prompt for i in by_length],
            references=[pairs.completions[i] for i in by_length],
        )

    def _tokenize(self, pairs: Pairs, chat: bool) -> list[Example]:
        from lorasweep.train.sft import tokenize_pair

        return [
            tokenize_pair(self.tokenizer, p, c, self.task.max_length, chat)
            for p, c in zip(pairs.prompts, pairs.completions, strict=True)
        ]

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        from lorasweep.train.model import base_model

        return base_model(model_cfg, seed, head=causal_lm())

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        from lorasweep.errors import ConfigError
        from lorasweep.train.data import batch_indices

        if batch_size > len(self.train):
            rows = "packed rows" if self.task.packing else "examples"
            raise ConfigError(
                f"training.batch_size ({batch_size}) exceeds the {len(self.train)} {rows} of the task's "
                f"{self.task.n_train} training examples; lower batch_size or raise task.n_train"
            )
        lengths = self.train.lengths if group_by_length else None
        for index in batch_indices(len(self.train), batch_size, seed, lengths):
            yield self.train.batch(index)

    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Eval loss per completion token, its perplexity, and exact match of greedy generations."""
        return self._evaluate(self.eval_set, model, batch_size, device, autocast)

    def evaluate_test(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """The same metrics on the test pairs."""
        return self._evaluate(self.test_set, model, batch_size, device, autocast)

    def _evaluate(
        self, data: EvalSet, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        import torch

        from lorasweep.train.sft import IGNORE

        model.eval()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        targets = 0
        with torch.no_grad():
            for start in range(0, len(data.rows), batch_size):
                batch = data.rows.batch(torch.arange(start, min(start + batch_size, len(data.rows)))).inputs
                n = int((batch["labels"][:, 1:] != IGNORE).sum())  # the targets the shifted loss averages over
                if n == 0:
                    continue
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with autocast:
                    loss = model(**batch).loss
                loss_sum += loss.double() * n
                targets += n
            eval_loss = float(loss_sum) / max(targets, 1)
            predictions = self.generate(model, batch_size, device, autocast, data.prompts)
        model.train()
        return {
            EVAL_LOSS.name: eval_loss,
            PERPLEXITY.name: math.exp(eval_loss) if eval_loss < 700 else math.inf,
            EXACT_MATCH.name: exact_match(predictions, data.references, self.task.answer_rule),
        }

    def generate(
        self,
        model: nn.Module,
        batch_size: int,
        device: torch.device,
        autocast: torch.autocast,
        prompts: list[list[int]] | None = None,
    ) -> list[str]:
        """Greedy completions of ``prompts`` (token ids; default: the eval prompts, shortest first)."""
        from transformers import GenerationConfig

        from lorasweep.train.sft import left_padded

        config = GenerationConfig(
            max_new_tokens=self.task.max_new_tokens,
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids,
            use_cache=True,
        )
        prompts = self.eval_set.prompts if prompts is None else prompts
        out: list[str] = []
        for start in range(0, len(prompts), batch_size):
            batch = left_padded(prompts[start : start + batch_size], self.pad_id)
            width = batch["input_ids"].shape[1]
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast:
                generated = model.generate(**batch, generation_config=config)
            out += self.tokenizer.batch_decode(generated[:, width:].cpu(), skip_special_tokens=True)
        return out
