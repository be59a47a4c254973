"""Causal-LM supervised fine-tuning (``kind: causal_lm_sft``): prompt → completion.

- **Tokenizing.** With the tokenizer's chat template (when it has one and ``task.chat_template``),
  the prompt is the user turn plus the generation prompt, and the completion is the rest of the
  rendered conversation (the assistant turn and its end token). Without one, the prompt is
  tokenized as given (with the tokenizer's special tokens, e.g. BOS) and the completion follows
  directly, ended by EOS. Labels are -100 on the prompt: the loss is on the completion only.
  Over ``max_length`` the prompt is cut from the left (keeping the text nearest the answer) and
  the completion from the right, so each example keeps at least half the row for its completion.
- **Batches.** Dynamic padding to the longest row of each batch (``training.group_by_length``
  groups similar lengths). With ``task.packing`` whole examples are packed greedily into rows of
  up to ``max_length`` tokens; each example's ``position_ids`` restart at 0 and no attention mask
  is passed, so transformers masks attention block-diagonally (no example sees another).
- **Metrics.** ``eval_loss``: mean cross-entropy per completion token over the eval split;
  ``perplexity``: its exponential; ``exact_match``: greedy generation of up to
  ``task.max_new_tokens`` tokens per eval prompt, the answer pulled out of it and of the
  reference completion by ``task.answer`` (:func:`extract_answer`), compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from peft import TaskType
from torch import nn

from lorasweep.config import AnswerConfig, AnswerRule, ModelConfig, TaskConfig
from lorasweep.errors import ConfigError
from lorasweep.trials.base import Workload
from lorasweep.trials.data import TrainBatch, batch_indices
from lorasweep.trials.model import Head, base_model, load_tokenizer
from lorasweep.trials.sources import Pairs, load_pairs

IGNORE = -100  # label of a token the loss skips (transformers' convention)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


# ---------------------------------------------------------------------------------------------
# Answers


def _canonical(text: str) -> str:
    """Numbers compare as numbers (``1,000`` = ``1000`` = ``1000.0``, a trailing ``.`` dropped);
    anything else as stripped text."""
    text = text.strip()
    candidate = text.rstrip(".").replace(",", "").replace("$", "")
    try:
        value = float(candidate)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return str(int(value)) if value.is_integer() else repr(value)


def extract_answer(text: str, rule: AnswerConfig) -> str | None:
    """The answer in ``text`` by ``rule``, canonicalized; None when there is none (no marker, no
    number, no match): such a prediction never matches."""
    if rule.rule == AnswerRule.STRIP:
        return _canonical(text)
    if rule.rule == AnswerRule.AFTER_MARKER:
        if rule.marker not in text:
            return None
        after = text.rsplit(rule.marker, 1)[1].strip()
        if not after:
            return None
        number = re.match(r"\$?(" + _NUMBER.pattern + ")", after)  # GSM8K: the number right after it
        return _canonical(number.group(1) if number else after.splitlines()[0])
    if rule.rule == AnswerRule.LAST_NUMBER:
        numbers = _NUMBER.findall(text)
        return _canonical(numbers[-1]) if numbers else None
    assert rule.pattern is not None  # the schema requires it for rule regex
    matches = list(re.finditer(rule.pattern, text))
    if not matches:
        return None
    last = matches[-1]
    return _canonical(last.group(1) if last.re.groups else last.group(0))


def exact_match(predictions: list[str], references: list[str], rule: AnswerConfig) -> float:
    """The fraction of predictions whose extracted answer equals the reference's."""
    hits = 0
    for pred, ref in zip(predictions, references, strict=True):
        answer = extract_answer(pred, rule)
        hits += answer is not None and answer == extract_answer(ref, rule)
    return hits / max(len(references), 1)


# ---------------------------------------------------------------------------------------------
# Tokenizing and packing


@dataclass(frozen=True)
class Example:
    """One tokenized example: ``prompt`` then ``completion`` token ids."""

    prompt: list[int]
    completion: list[int]

    @property
    def ids(self) -> list[int]:
        return self.prompt + self.completion

    @property
    def labels(self) -> list[int]:
        return [IGNORE] * len(self.prompt) + self.completion


def uses_chat_template(tokenizer: Any, task: TaskConfig) -> bool:
    return task.chat_template and getattr(tokenizer, "chat_template", None) is not None


def _texts(tokenizer: Any, prompt: str, completion: str, chat: bool) -> tuple[str, str] | None:
    """Prompt and completion as rendered by the chat template (None when it does not render the
    conversation as the prompt followed by the completion)."""
    if not chat:
        return None
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": completion}], tokenize=False)
    if not full.startswith(head):
        return None
    return head, full[len(head) :]


def tokenize_pair(tokenizer: Any, prompt: str, completion: str, max_length: int, chat: bool) -> Example:
    """Token ids of one prompt → completion pair, cut to ``max_length`` (see the module doc)."""
    rendered = _texts(tokenizer, prompt, completion, chat)
    if rendered is not None:
        head, tail = rendered
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        c = tokenizer(tail, add_special_tokens=False)["input_ids"]
    else:
        p = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    keep_c = min(len(c), max_length - min(len(p), max_length // 2))
    keep_p = min(len(p), max_length - keep_c)
    return Example(p[len(p) - keep_p :], c[:keep_c])


@dataclass(frozen=True)
class Rows:
    """Training or eval rows, padded to the longest: one example per row, or packed examples."""

    input_ids: torch.Tensor  # (rows, longest) int64, padding = pad id
    labels: torch.Tensor  # (rows, longest) int64, IGNORE on prompts and padding
    lengths: torch.Tensor  # (rows,) real tokens per row
    examples: torch.Tensor  # (rows,) examples per row
    position_ids: torch.Tensor | None  # packed rows: positions restart at 0 per example (padding: 0)

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def batch(self, index: torch.Tensor) -> TrainBatch:
        """Rows ``index`` trimmed to their longest (dynamic padding)."""
        width = int(self.lengths[index].max())
        inputs = {"input_ids": self.input_ids[index, :width], "labels": self.labels[index, :width]}
        if self.position_ids is not None:  # packed: no attention mask, positions separate the examples
            inputs["position_ids"] = self.position_ids[index, :width]
        else:
            inputs["attention_mask"] = (torch.arange(width) < self.lengths[index, None]).long()
        return TrainBatch(inputs, int(self.examples[index].sum()), int(self.lengths[index].sum()))


def _rows(seqs: list[tuple[list[int], list[int], list[int]]], counts: list[int], pad_id: int, packed: bool) -> Rows:
    longest = max(len(ids) for ids, _, _ in seqs)
    n = len(seqs)
    input_ids = torch.full((n, longest), pad_id, dtype=torch.long)
    labels = torch.full((n, longest), IGNORE, dtype=torch.long)
    positions = torch.zeros((n, longest), dtype=torch.long) if packed else None
    for i, (ids, labs, pos) in enumerate(seqs):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(labs)] = torch.tensor(labs)
        if positions is not None:
            positions[i, : len(pos)] = torch.tensor(pos)
    lengths = torch.tensor([len(ids) for ids, _, _ in seqs], dtype=torch.long)
    return Rows(input_ids, labels, lengths, torch.tensor(counts, dtype=torch.long), positions)


def one_per_row(examples: list[Example], pad_id: int) -> Rows:
    seqs = [(e.ids, e.labels, list(range(len(e.ids)))) for e in examples]
    return _rows(seqs, [1] * len(examples), pad_id, packed=False)


def pack(examples: list[Example], max_length: int, pad_id: int) -> Rows:
    """Whole examples packed greedily, in order, into rows of at most ``max_length`` tokens."""
    seqs: list[tuple[list[int], list[int], list[int]]] = []
    counts: list[int] = []
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    count = 0
    for e in examples:
        if ids and len(ids) + len(e.ids) > max_length:
            seqs.append((ids, labels, positions))
            counts.append(count)
            ids, labels, positions, count = [], [], [], 0
        ids, labels = ids + e.ids, labels + e.labels
        positions += list(range(len(e.ids)))
        count += 1
    seqs.append((ids, labels, positions))
    counts.append(count)
    return _rows(seqs, counts, pad_id, packed=True)


def _left_padded(prompts: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Prompts padded on the left, as batched generation needs."""
    longest = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for i, p in enumerate(prompts):
        input_ids[i, longest - len(p) :] = torch.tensor(p)
        mask[i, longest - len(p) :] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


# ---------------------------------------------------------------------------------------------
# The workload


def _pad_id(tokenizer: Any, model_cfg: ModelConfig) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError(
            f"model.name_or_path '{model_cfg.name_or_path}': the tokenizer has neither a pad nor an EOS token; "
            "use a causal-LM tokenizer"
        )
    return int(pad)


def check_sft(task: TaskConfig, model_cfg: ModelConfig) -> None:
    """What a causal_lm_sft trial would trip over, checked without loading weights: the data and
    its columns, a tokenizer that can end a completion, and whether the chat template renders."""
    train, _ = load_pairs(task)
    tokenizer = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
    _pad_id(tokenizer, model_cfg)
    chat = uses_chat_template(tokenizer, task)
    if not chat and tokenizer.eos_token_id is None:
        raise ConfigError(
            f"model.name_or_path '{model_cfg.name_or_path}': the tokenizer has no EOS token to end completions "
            "and no chat template; use a causal-LM tokenizer"
        )
    tokenize_pair(tokenizer, train.prompts[0], train.completions[0], task.max_length, chat)


class CausalLmWorkload(Workload):
    peft_task_type = TaskType.CAUSAL_LM

    def __init__(self, task: TaskConfig, model_cfg: ModelConfig) -> None:
        self.task = task
        self.tokenizer = tok = load_tokenizer(model_cfg.name_or_path, model_cfg.trust_remote_code)
        self.pad_id = _pad_id(tok, model_cfg)
        chat = uses_chat_template(tok, task)
        train, evaluation = load_pairs(task)
        self.train_examples = self._tokenize(train, chat)
        eval_examples = self._tokenize(evaluation, chat)
        self.references = evaluation.completions
        if task.packing:
            self.train = pack(self.train_examples, task.max_length, self.pad_id)
        else:
            self.train = one_per_row(self.train_examples, self.pad_id)
        # Eval rows sorted by length (padding is small; every metric is order-free).
        by_length = sorted(range(len(eval_examples)), key=lambda i: len(eval_examples[i].ids))
        self.eval_order = by_length
        self.eval = one_per_row([eval_examples[i] for i in by_length], self.pad_id)
        self.eval_prompts = [eval_examples[i].prompt for i in by_length]
        self.eos_ids = sorted({i for i in (tok.eos_token_id, self.pad_id) if i is not None})

    def _tokenize(self, pairs: Pairs, chat: bool) -> list[Example]:
        return [
            tokenize_pair(self.tokenizer, p, c, self.task.max_length, chat)
            for p, c in zip(pairs.prompts, pairs.completions, strict=True)
        ]

    def base_model(self, model_cfg: ModelConfig, seed: int) -> nn.Module:
        return base_model(model_cfg, None, seed, Head.CAUSAL_LM)

    def train_batches(self, batch_size: int, seed: int, group_by_length: bool = False) -> Iterator[TrainBatch]:
        if batch_size > len(self.train):
            rows = "packed rows" if self.task.packing else "examples"
            raise ConfigError(
                f"training.batch_size ({batch_size}) exceeds the {len(self.train)} {rows} of the task's "
                f"{self.task.n_train} training examples; lower batch_size or raise task.n_train"
            )
        lengths = self.train.lengths if group_by_length else None
        for index in batch_indices(len(self.train), batch_size, seed, lengths):
            yield self.train.batch(index)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast
    ) -> dict[str, float]:
        """Eval loss per completion token, its perplexity, and exact match of greedy generations."""
        model.eval()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        targets = 0
        for start in range(0, len(self.eval), batch_size):
            batch = self.eval.batch(torch.arange(start, min(start + batch_size, len(self.eval)))).inputs
            n = int((batch["labels"][:, 1:] != IGNORE).sum())  # the targets the shifted loss averages over
            if n == 0:
                continue
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                loss = model(**batch).loss
            loss_sum += loss.double() * n
            targets += n
        eval_loss = float(loss_sum) / max(targets, 1)
        predictions = self.generate(model, batch_size, device, autocast)
        model.train()
        references = [self.references[i] for i in self.eval_order]
        return {
            "eval_loss": eval_loss,
            "perplexity": math.exp(eval_loss) if eval_loss < 700 else math.inf,
            "exact_match": exact_match(predictions, references, self.task.answer_rule),
        }

    def generate(self, model: nn.Module, batch_size: int, device: torch.device, autocast: torch.autocast) -> list[str]:
        """Greedy completions of the eval prompts (in :attr:`eval_order`)."""
        from transformers import GenerationConfig

        config = GenerationConfig(
            max_new_tokens=self.task.max_new_tokens,
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids,
            use_cache=True,
        )
        out: list[str] = []
        for start in range(0, len(self.eval_prompts), batch_size):
            batch = _left_padded(self.eval_prompts[start : start + batch_size], self.pad_id)
            width = batch["input_ids"].shape[1]
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast:
                generated = model.generate(**batch, generation_config=config)
            out += self.tokenizer.batch_decode(generated[:, width:].cpu(), skip_special_tokens=True)
        return out
