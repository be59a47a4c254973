"""The pieces every schema shares: strict models, numbers that refuse booleans and infinities,
float ranges, names."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _number(value: Any) -> Any:
    """YAML reads ``true``/``yes``/``on`` as booleans, and Python counts True as 1: refuse them;
    and ``.inf``/``.nan``, which no range or count can be."""
    if isinstance(value, bool):
        raise ValueError(f"a number goes here, not {str(value).lower()}; write a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (.inf and .nan are not); write a number")
    return value


#: The config's numbers: never a boolean, never infinite or NaN.
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
#: Seeds go to numpy (< 2³²) after per-rank and per-re-run offsets are added: 31 bits leave room.
MAX_SEED = 2**31 - 1


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatRange(StrictModel):
    """A searched float: ``low..high``, log-uniform unless ``log: false``."""

    low: Float = Field(gt=0, description="lower bound (> 0)")
    high: Float = Field(gt=0, description="upper bound (> low)")
    log: bool = Field(True, description="sample log-uniformly")

    @model_validator(mode="after")
    def _low_below_high(self) -> FloatRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high}); swap or widen them")
        return self


PositiveFloat = Annotated[Float, Field(gt=0)]

#: A searched parameter whose range is derived, per rank, from the experiment's ``effective_step``
#: range (see :func:`lorasweep.space.resolve.at_rank`): every such space covers the same s·LR.
MATCHED = "matched"
Matched = Literal["matched"]


def non_default(model: BaseModel) -> list[str]:
    """The fields of ``model`` that differ from their defaults (whether given or round-tripped)."""
    return [
        name
        for name, field in type(model).model_fields.items()
        if not field.is_required() and getattr(model, name) != field.get_default(call_default_factory=True)
    ]


#: ``model.name_or_path: package:MODULE``: a pip package that ships the weights.
PACKAGE_PREFIX = "package:"
#: ``model.name_or_path: builtin:NAME``: a model a task kind builds itself (e.g. ``builtin:mlp``).
BUILTIN_PREFIX = "builtin:"
#: Experiment and space names: they become parts of Optuna study names (EXPERIMENT/SPACE/rR).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


def _check_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            "names use letters, digits, '.', '_' and '-' and start with a letter or digit (they become parts of "
            "Optuna study names); rename it"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
