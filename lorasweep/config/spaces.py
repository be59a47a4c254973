"""Search spaces: which of LR, α (or its rule's parameter) a space searches, and how α relates to
the rank (:mod:`lorasweep.config.alpha`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from lorasweep.config.alpha import AlphaRule, rule_classes
from lorasweep.config.fields import MATCHED, FloatRange, Matched, Name, PositiveFloat, StrictModel

__all__ = ["SpaceConfig"]


def _searchable() -> list[str]:
    """``lr`` and every α rule's sampled field (``alpha.c``, ...): what a space can search."""
    return ["lr", *sorted({f"alpha.{rule.field}" for rule in rule_classes() if rule.field})]


class SpaceConfig(StrictModel):
    """A search space: which of LR, α (or c) are searched, and how α relates to the rank."""

    name: Name = Field(min_length=1, max_length=48, description="the space's name, shown in reports")
    description: str = ""
    lr: PositiveFloat | FloatRange | Matched = Field(
        description="learning rate: a number, {low, high, log}, or matched (the range that covers the experiment's "
        "effective_step at each rank)"
    )
    alpha: AlphaRule
    use_rslora: bool = Field(False, description="scale by α/√r instead of α/r")
    loraplus_lr_ratio: PositiveFloat | FloatRange | None = Field(
        None, description="LoRA+: B matrices train at this ratio × LR (PEFT's LoRA+ optimizer); a number or a range"
    )

    @property
    def step_fields(self) -> dict[str, PositiveFloat | FloatRange | str]:
        """The fields that set the effective step s·LR: ``lr`` and the α rule's ``c`` or ``range``."""
        out: dict[str, PositiveFloat | FloatRange | str] = {"lr": self.lr}
        if self.alpha.field is not None:
            out[f"alpha.{self.alpha.field}"] = self.alpha.setting()  # type: ignore[assignment]
        return out

    @property
    def searches_lr(self) -> bool:
        """Whether the LR is sampled: a range, or matched."""
        return self.lr == MATCHED or isinstance(self.lr, FloatRange)

    @property
    def searches_alpha(self) -> bool:
        """Whether α (or c) is sampled: a range, or matched."""
        return self.alpha.searches

    @property
    def matched(self) -> str | None:
        """The field whose range is matched to the experiment's effective step, if any."""
        return next((k for k, v in self.step_fields.items() if v == MATCHED), None)

    @model_validator(mode="after")
    def _searches_something(self) -> SpaceConfig:
        fields = self.step_fields
        searched = [k for k, v in fields.items() if v == MATCHED or isinstance(v, FloatRange)]
        if not searched and not isinstance(self.loraplus_lr_ratio, FloatRange):
            raise ValueError(
                f"space {self.name} searches nothing; give one of {', '.join(_searchable())} a {{low, high}} range "
                "or 'matched'"
            )
        matched = [k for k, v in fields.items() if v == MATCHED]
        if matched and len(searched) > 1:
            raise ValueError(
                f"space {self.name}: {matched[0]} is matched to the experiment's effective step, so it must be the "
                f"only one of {', '.join(fields)} searched; fix the others to a number"
            )
        return self
