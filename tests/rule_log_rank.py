"""An α rule defined outside lorasweep, the way README's "Extending lorasweep" says: one module, one
``@alpha_rule`` class. Nothing else is edited: the space file picks it with ``rule: log_rank``, the
search samples its parameter, the report describes it, the store keeps it.

``log_rank``: ``α = k · log₂(2r)``, a law that grows slower than the square root; ``k`` fixed or
searched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from lorasweep.api import AlphaRuleBase, alpha_rule
from lorasweep.config import FloatRange, Matched, PositiveFloat


@alpha_rule
class LogRankAlpha(AlphaRuleBase):
    """``α = k · log₂(2r)``."""

    param: ClassVar[str | None] = "k"
    field: ClassVar[str | None] = "k"
    rule: Literal["log_rank"]
    k: PositiveFloat | FloatRange | Matched = Field(description="k in α = k·log₂(2r): a number, a range, or matched")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self._value(sampled) * math.log2(2 * rank)

    def param_of(self, alpha: float, rank: int) -> float:
        return alpha / math.log2(2 * rank)

    def formula(self, value: str) -> str:
        return f"α = {value}·log₂(2r)"
