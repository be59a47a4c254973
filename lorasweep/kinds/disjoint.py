"""The test examples of a generated task: a third draw, disjoint from the train and eval examples.

The train and eval examples are the generator's draw from ``data_seed``, exactly as for a task
without a test split. The test examples are a separate draw from a seed derived from
``data_seed`` (:func:`held_out_rng`), so no generator has to extend a shorter draw. A generator of
templated text can make the same text twice: a test example whose text (or prompt) is also a train
or eval one is skipped, so the test set holds only examples no trial trained or was selected on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from typing import Any

from lorasweep.errors import ConfigError

__all__ = ["draw_unseen", "held_out_rng"]

#: Longer draws tried, each twice the last, before too few unseen examples is an error.
DOUBLINGS = 6


def held_out_rng(data_seed: int) -> random.Random:
    """The random stream of a generated task's test examples (fixed by ``data_seed``, apart from
    the stream its train and eval examples come from)."""
    return random.Random(f"lorasweep test split {data_seed}")


def draw_unseen(
    draw: Callable[[int], tuple[list[str], list[Any]]], seen: Collection[str], n_test: int, what: str = "texts"
) -> tuple[list[str], list[Any]]:
    """The first ``n_test`` examples of ``draw(n)`` (texts, and what goes with them; each call a
    fresh draw from the test stream) whose text is not in ``seen``. Too few such texts in up to
    2**DOUBLINGS × ``n_test`` draws is a ConfigError naming ``n_test``."""
    known = set(seen)
    extra, keep = n_test, []
    for _ in range(DOUBLINGS):
        texts, other = draw(extra)
        keep = [i for i in range(len(texts)) if texts[i] not in known][:n_test]
        if len(keep) == n_test:
            return [texts[i] for i in keep], [other[i] for i in keep]
        extra *= 2
    raise ConfigError(
        f"task n_test: the generator made only {len(keep)} {what} unlike the train and eval ones in {extra // 2} "
        f"draws, {n_test} are needed; lower n_test (default n_eval)"
    )
