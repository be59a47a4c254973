"""``kind: generated``: sequence classification on text made by a generator registered in
:mod:`lorasweep.train.data` (``generator:`` and its ``params:``), fixed by the task's
``data_seed``; the workload, checks and metrics are those of every text-classification kind
(:class:`~lorasweep.kinds.classification.LabelledTextTask`)."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field

from lorasweep.api import task_kind
from lorasweep.kinds.classification import Examples, LabelledTextTask

__all__ = ["GeneratedTask"]


@task_kind
class GeneratedTask(LabelledTextTask):
    """Texts and labels from a named generator."""

    kind: Literal["generated"]
    generator: str = Field(min_length=1, description="a generator of lorasweep.train.data, e.g. negated_sentiment")
    params: dict[str, Any] = Field(default_factory=dict, description="generator arguments")

    def _draw(self, n: int, rng: random.Random) -> tuple[list[str], list[int]]:
        """``n`` examples of the generator, drawn from ``rng``."""
        from lorasweep.errors import ConfigError
        from lorasweep.train.data import get_generator

        fn = get_generator(self.generator, self.name)
        try:
            texts, labels = fn(n, rng, **self.params)
        except TypeError as e:
            raise ConfigError(f"task {self.name}: bad params for generator '{self.generator}' ({e})") from e
        if max(labels) >= self.num_labels:
            raise ConfigError(
                f"task {self.name}: generator made label {max(labels)} but num_labels is {self.num_labels}"
            )
        return texts, labels

    def examples(self) -> tuple[Examples, Examples]:
        texts, labels = self._draw(self.n_train + self.n_eval, random.Random(self.data_seed))
        n = self.n_train
        return Examples(texts=texts[:n], labels=labels[:n]), Examples(texts=texts[n:], labels=labels[n:])

    def test_examples(self) -> Examples:
        """A third set, from the test stream of ``data_seed``; a text that is also a train or eval
        text is skipped, so no test example was seen by training or by the search's selection."""
        from lorasweep.kinds.disjoint import draw_unseen, held_out_rng

        train, evaluation = self.examples()
        seen = {*train.texts, *evaluation.texts}
        texts, labels = draw_unseen(lambda n: self._draw(n, held_out_rng(self.data_seed)), seen, self.test_size)
        return Examples(texts=texts, labels=labels)
