"""The model head a task kind trains: which transformers auto class builds the model, with which
config keys, and PEFT's task type for it. Open: a kind makes the :class:`Head` it needs
(``Head(auto_class="AutoModelForTokenClassification", config=(("num_labels", 9),),
peft_task_type="TOKEN_CLS", what="a token-classification model")``) in its own module; the
model loader (:mod:`lorasweep.train.model`) knows no head by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Head", "causal_lm", "sequence_classification"]


@dataclass(frozen=True, kw_only=True)
class Head:
    """How a kind's model is built from a pretrained checkpoint or a config (hashable: models
    are cached per head)."""

    #: the transformers auto class, by name (``AutoModelForSequenceClassification``)
    auto_class: str
    #: what the model must be, for errors ("a causal LM")
    what: str
    #: config keys the head sets, as ``(key, value)`` pairs (``num_labels``, ``use_cache``)
    config: tuple[tuple[str, Any], ...] = ()
    #: PEFT's task type (``"SEQ_CLS"``, ``"CAUSAL_LM"``, ``"TOKEN_CLS"``; None: a plain module)
    peft_task_type: str | None = None

    def auto(self) -> Any:
        """The transformers auto class (imports transformers)."""
        import transformers

        return getattr(transformers, self.auto_class)

    def config_kwargs(self) -> dict[str, Any]:
        """The config keys the head sets, as keyword arguments for the model's config (a new dict)."""
        return dict(self.config)


def sequence_classification(num_labels: int) -> Head:
    """A new classification head of ``num_labels`` on the base (its init fixed by the seed)."""
    return Head(
        auto_class="AutoModelForSequenceClassification",
        what="a model with a sequence-classification head",
        config=(("num_labels", num_labels),),
        peft_task_type="SEQ_CLS",
    )


def causal_lm() -> Head:
    """The model's own LM head. Training passes no KV cache (``use_cache=False``; packed rows
    mask across examples by position ids); generation asks for one explicitly."""
    return Head(
        auto_class="AutoModelForCausalLM",
        what="a causal LM",
        config=(("use_cache", False),),
        peft_task_type="CAUSAL_LM",
    )
