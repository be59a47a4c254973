"""The exact-match metric of ``kind: causal_lm_sft``: how the answer is pulled out of a
completion (the model's and the reference) by ``answer:`` (:class:`AnswerConfig`,
:func:`extract_answer`), and the share of predictions whose answer equals the reference's
(:func:`exact_match`). Numbers are compared as numbers (``1,000`` = ``1000`` = ``1000.0``);
anything else as stripped text.
"""

from __future__ import annotations

import enum
import math
import re

from pydantic import Field, model_validator

from lorasweep.config import StrictModel

__all__ = ["AnswerConfig", "AnswerRule", "exact_match", "extract_answer"]


class AnswerRule(enum.StrEnum):
    """How exact match pulls the answer out of a completion (the model's and the reference)."""

    #: the whole completion, whitespace stripped
    STRIP = "strip"
    #: after the last ``marker``: the number that follows it, else the rest of its line (GSM8K: ``#### 42``)
    AFTER_MARKER = "after_marker"
    #: the last number in the text (commas dropped: 1,000 → 1000)
    LAST_NUMBER = "last_number"
    #: the first group (else the whole match) of the last match of ``pattern``
    REGEX = "regex"


class AnswerConfig(StrictModel):
    """The answer extractor of the exact-match metric. Numbers are compared as numbers
    (``1,000`` = ``1000`` = ``1000.0``); anything else as stripped text."""

    rule: AnswerRule = AnswerRule.STRIP
    marker: str = Field("####", min_length=1, description="after_marker: the text that precedes the answer")
    pattern: str | None = Field(None, description="regex: a Python regular expression")

    @model_validator(mode="after")
    def _pattern_compiles(self) -> AnswerConfig:
        if self.rule == AnswerRule.REGEX:
            if self.pattern is None:
                raise ValueError(r"rule regex needs a pattern, e.g. pattern: 'answer is (\S+)'; add it")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression ({e}); fix it") from e
        elif self.pattern is not None:
            raise ValueError(f"pattern is only used by rule regex (rule is {self.rule.value}); remove it")
        return self


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


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
    matches = list(re.finditer(rule.pattern or "", text))  # the schema requires a pattern for rule regex
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
