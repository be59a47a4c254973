"""The test examples of a generated task: a third draw, disjoint from the train and eval examples.

A generator is fixed by the task's ``data_seed`` and draws its examples one after another, so a
longer draw extends a shorter one: the train and eval examples are the first ``n_train + n_eval``
(exactly those of a task without a test split), and the test examples come after them. A generator
of templated text can make the same text twice; a test example whose text (or prompt) is also a
train or eval one is skipped, so the test set holds only examples no trial trained or was selected on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lorasweep.errors import ConfigError

__all__ = ["draw_unseen"]

#: Longer draws tried, each twice the last, before too few unseen examples is an error.
DOUBLINGS = 6


def draw_unseen(
    draw: Callable[[int], tuple[list[str], list[Any]]], seen: int, n_test: int, what: str = "texts"
) -> tuple[list[str], list[Any]]:
    """``n_test`` examples after the first ``seen`` of ``draw(n)`` (texts, and what goes with
    them), skipping any whose text is among the first ``seen``. Too few unseen texts in up to
    2**DOUBLINGS × ``n_test`` further draws is a ConfigError naming ``n_test``."""
    extra = n_test
    for _ in range(DOUBLINGS):
        texts, other = draw(seen + extra)
        known = set(texts[:seen])
        keep = [i for i in range(seen, seen + extra) if texts[i] not in known][:n_test]
        if len(keep) == n_test:
            return [texts[i] for i in keep], [other[i] for i in keep]
        extra *= 2
    raise ConfigError(
        f"task n_test: the generator made only {len(keep)} {what} unlike the train and eval ones in {extra // 2} "
        f"further draws, {n_test} are needed; lower n_test (default n_eval)"
    )
