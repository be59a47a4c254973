"""Generated instruction-following data for ``kind: causal_lm_sft`` (``generator:`` instead of
``data:``): prompt → completion pairs whose answer can be checked exactly.

A pair generator is a pure function of ``(n, rng, **params)`` returning ``(prompts,
completions)``; register one with :func:`pair_generator`. The data is fixed by the task's
``data_seed``; a trial's seed fixes only the order of its batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lorasweep.errors import ConfigError

PairGenerator = Callable[..., tuple[list[str], list[str]]]
_PAIR_GENERATORS: dict[str, PairGenerator] = {}


def pair_generator(name: str) -> Callable[[PairGenerator], PairGenerator]:
    def register(fn: PairGenerator) -> PairGenerator:
        _PAIR_GENERATORS[name] = fn
        return fn

    return register


def pair_generator_names() -> list[str]:
    return sorted(_PAIR_GENERATORS)


def get_pair_generator(name: str, task_name: str) -> PairGenerator:
    """The pair generator called ``name``; an unknown name is an error that lists the known ones."""
    fn = _PAIR_GENERATORS.get(name)
    if fn is None:
        raise ConfigError(f"task {task_name}: unknown generator '{name}'; known: {', '.join(pair_generator_names())}")
    return fn


_WORDS = [
    "apple", "river", "garden", "pencil", "window", "silver", "planet", "candle", "forest", "button",
    "rocket", "yellow", "castle", "summer", "bridge", "coffee", "jacket", "mirror", "orange", "pocket",
    "ticket", "winter", "dragon", "market", "violin", "tomato", "circle", "island", "basket", "anchor",
]  # fmt: skip


def _add(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}?", str(a + b)


def _subtract(rng: random.Random) -> tuple[str, str]:
    a, b = sorted((rng.randint(10, 99), rng.randint(10, 99)), reverse=True)
    return f"What is {a} - {b}?", str(a - b)


def _multiply(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 12), rng.randint(2, 9)
    return f"What is {a} times {b}?", str(a * b)


def _uppercase(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(_WORDS)
    return f"Write the word '{word}' in capital letters.", word.upper()


def _last_letter(rng: random.Random) -> tuple[str, str]:
    word = rng.choice(_WORDS)
    return f"What is the last letter of the word '{word}'?", word[-1]


def _count_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(_WORDS, rng.randint(2, 7))
    return f"How many words are in this list: {', '.join(words)}?", str(len(words))


#: The instruction families :func:`instructions` draws from; each returns (prompt, answer).
_FAMILIES: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "uppercase": _uppercase,
    "last_letter": _last_letter,
    "count_words": _count_words,
}


@pair_generator("instructions")
def instructions(
    n: int, rng: random.Random, families: list[str] | None = None, suffix: str = " Reply with the answer only."
) -> tuple[list[str], list[str]]:
    """Short instructions with one exact answer (two-digit sums and differences, small products,
    a word in capitals, a word's last letter, the length of a word list), drawn evenly from
    ``families`` (default: all). The completion is the bare answer, so exact match (``answer:
    {rule: strip}``) checks both the skill and that the model follows "answer only"."""
    names = families or sorted(_FAMILIES)
    unknown = [f for f in names if f not in _FAMILIES]
    if unknown:
        raise TypeError(f"unknown families {unknown}; known: {', '.join(sorted(_FAMILIES))}")
    prompts, completions = [], []
    for i in range(n):
        prompt, answer = _FAMILIES[names[i % len(names)]](rng)
        prompts.append(prompt + suffix)
        completions.append(answer)
    order = list(range(n))
    rng.shuffle(order)
    return [prompts[i] for i in order], [completions[i] for i in order]
