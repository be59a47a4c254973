"""Task data: generators for built-in tasks, and the seeded batch order every kind draws from
(each kind encodes its own examples in its module).

A generated task (:mod:`lorasweep.kinds.generated`) draws its examples from a generator: a pure
function of ``(n, rng, **params)`` returning ``(texts, labels)``; register one with
:func:`generator`. The data itself is fixed by the task's ``data_seed``; the trial's seed fixes
only the order in which batches are drawn.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import torch

from lorasweep.errors import ConfigError

Generator = Callable[..., tuple[list[str], list[int]]]
_GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        _GENERATORS[name] = fn
        return fn

    return register


def generator_names() -> list[str]:
    return sorted(_GENERATORS)


def get_generator(name: str, task_name: str) -> Generator:
    """The generator called ``name``; an unknown name is an error that lists the known ones."""
    fn = _GENERATORS.get(name)
    if fn is None:
        raise ConfigError(f"task {task_name}: unknown generator '{name}'; known: {', '.join(generator_names())}")
    return fn


_POSITIVE = [
    "great",
    "wonderful",
    "excellent",
    "delightful",
    "superb",
    "pleasant",
    "brilliant",
    "charming",
    "lovely",
    "fantastic",
    "enjoyable",
    "impressive",
    "solid",
    "fresh",
    "friendly",
    "memorable",
]
_NEGATIVE = [
    "awful",
    "terrible",
    "dreadful",
    "boring",
    "disappointing",
    "horrible",
    "bland",
    "poor",
    "mediocre",
    "dull",
    "rude",
    "stale",
    "clumsy",
    "forgettable",
    "weak",
    "messy",
]
_NOUNS = [
    "movie",
    "food",
    "service",
    "hotel",
    "book",
    "concert",
    "staff",
    "room",
    "plot",
    "acting",
    "music",
    "coffee",
    "trip",
    "game",
    "show",
    "menu",
    "ending",
    "design",
    "camera",
    "course",
]
_INTENSIFIERS = ["", "", "really ", "very ", "quite ", "truly ", "rather ", "so "]
_NEGATIONS = ["not", "never", "hardly", "not at all"]
_CONTRASTS = ["but", "however", "yet", "although"]


@generator("negated_sentiment")
def negated_sentiment(
    n: int, rng: random.Random, negation_rate: float = 0.4, contrast_rate: float = 0.4, label_noise: float = 0.0
) -> tuple[list[str], list[int]]:
    """Review sentences whose label needs composition, not keywords.

    A clause "the NOUN was [not] ADJ" has the sentiment of ADJ, flipped by a negation. With
    probability ``contrast_rate`` two clauses are joined by a contrast word and the label is the
    sentiment of the clause after "but/however/yet" (or the main clause after "although ..., ").
    Both clauses carry sentiment words, so a bag of words is at chance on contrasted examples.
    """

    def clause() -> tuple[str, int]:
        positive = rng.random() < 0.5
        adj = rng.choice(_POSITIVE if positive else _NEGATIVE)
        negated = rng.random() < negation_rate
        verb = rng.choice(["was", "is", "seemed", "felt"])
        words = f"the {rng.choice(_NOUNS)} {verb} {rng.choice(_NEGATIONS) + ' ' if negated else ''}"
        return f"{words}{rng.choice(_INTENSIFIERS)}{adj}", int(positive != negated)

    texts, labels = [], []
    for _ in range(n):
        first, first_label = clause()
        if rng.random() < contrast_rate:
            second, label = clause()
            word = rng.choice(_CONTRASTS)
            text = f"although {first}, {second}" if word == "although" else f"{first} {word} {second}"
        else:
            text, label = first, first_label
        if label_noise and rng.random() < label_noise:
            label = 1 - label
        texts.append(text)
        labels.append(label)
    return texts, labels


#: Length grouping sorts lengths within chunks of this many batches (as transformers' Trainer does).
MEGA_BATCHES = 50


def batch_indices(n: int, batch_size: int, seed: int, lengths: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Endless shuffled batches of row indices (epoch after epoch, no partial batch); the order
    is fixed by ``seed`` alone. Every task kind draws its training batches from this.

    With ``lengths`` (``training.group_by_length``), each epoch's shuffled order is cut into chunks
    of :data:`MEGA_BATCHES` batches, each chunk is sorted by length and cut into batches, and the
    batches are shuffled: rows of similar length share a batch, so dynamic padding wastes little."""
    if batch_size > n:
        raise ConfigError(f"training.batch_size ({batch_size}) exceeds the task's n_train ({n}); lower it")
    gen = torch.Generator().manual_seed(seed)
    usable = n - n % batch_size
    while True:
        order = torch.randperm(n, generator=gen)
        if lengths is None:
            for start in range(0, usable, batch_size):
                yield order[start : start + batch_size]
            continue
        order = order[:usable]
        chunk = batch_size * MEGA_BATCHES
        grouped = []
        for start in range(0, usable, chunk):
            part = order[start : start + chunk]
            part = part[torch.argsort(lengths[part], descending=True, stable=True)]
            grouped += list(part.split(batch_size))
        for i in torch.randperm(len(grouped), generator=gen).tolist():
            yield grouped[i]
