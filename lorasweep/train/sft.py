"""The causal-LM machinery of supervised fine-tuning (prompt → completion), which the
``causal_lm_sft`` kind (:mod:`lorasweep.kinds.causal_lm_sft`) trains and evaluates with.

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
- **Generation.** Eval prompts are padded on the left (:func:`left_padded`), as batched greedy
  generation needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lorasweep.api.task import TrainBatch
from lorasweep.config import ModelConfig
from lorasweep.errors import ConfigError

IGNORE = -100  # label of a token the loss skips (transformers' convention)


# ---------------------------------------------------------------------------------------------
# Tokenizing and packing


@dataclass(frozen=True, kw_only=True)
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


def uses_chat_template(tokenizer: Any, wanted: bool) -> bool:
    """Whether prompts are rendered with the tokenizer's chat template: ``wanted`` (the task's
    ``chat_template``) and the tokenizer has one."""
    return wanted and getattr(tokenizer, "chat_template", None) is not None


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
    return Example(prompt=p[len(p) - keep_p :], completion=c[:keep_c])


@dataclass(frozen=True, kw_only=True)
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
        return TrainBatch(
            inputs=inputs, examples=int(self.examples[index].sum()), tokens=int(self.lengths[index].sum())
        )


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
    return Rows(
        input_ids=input_ids,
        labels=labels,
        lengths=lengths,
        examples=torch.tensor(counts, dtype=torch.long),
        position_ids=positions,
    )


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


def left_padded(prompts: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Prompts padded on the left, as batched generation needs."""
    longest = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for i, p in enumerate(prompts):
        input_ids[i, longest - len(p) :] = torch.tensor(p)
        mask[i, longest - len(p) :] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


# ---------------------------------------------------------------------------------------------
# Padding


def padding_id(tokenizer: Any, model_cfg: ModelConfig) -> int:
    """The id rows are padded with: the tokenizer's pad token, else its EOS token."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError(
            f"model.name_or_path '{model_cfg.name_or_path}': the tokenizer has neither a pad nor an EOS token; "
            "use a causal-LM tokenizer"
        )
    return int(pad)
