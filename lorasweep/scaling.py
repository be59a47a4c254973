"""The derived numbers of a LoRA trial, each computed in exactly one place.

LoRA adds ``ΔW = s · B · A`` to a frozen weight. The scaling ``s`` is ``α / r`` (PEFT's default)
or ``α / √r`` with rsLoRA. Everything else lorasweep derives from (r, α, LR) lives here too, so
that no second copy of a formula can drift from the first (peft#2733 came from exactly that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def lora_scaling(alpha: float, rank: int, use_rslora: bool = False) -> float:
    """The factor ``s`` that multiplies ``B·A``: ``α/r``, or ``α/√r`` with rsLoRA (as PEFT does)."""
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    return alpha / math.sqrt(rank) if use_rslora else alpha / rank


def alpha_for_scaling(scaling: float, rank: int, use_rslora: bool = False) -> float:
    """Inverse of :func:`lora_scaling`: the α that gives scaling ``s`` at ``rank``."""
    return scaling / lora_scaling(1.0, rank, use_rslora)


def alpha_from_c(c: float, rank: int) -> float:
    """The square-root law ``α = c · √r``."""
    return c * math.sqrt(rank)


def c_from_alpha(alpha: float, rank: int) -> float:
    """Inverse of :func:`alpha_from_c`: ``c = α / √r``."""
    return alpha / math.sqrt(rank)


def alpha_from_power(coef: float, rank: int, exponent: float) -> float:
    """The power law ``α = coef · r^exponent`` (exponent 0.5 is the square-root law, 1 ties α to r)."""
    return coef * rank**exponent


def coef_from_alpha(alpha: float, rank: int, exponent: float) -> float:
    """Inverse of :func:`alpha_from_power`: ``coef = α / r^exponent``."""
    return alpha / rank**exponent


def effective_step(scaling: float, lr: float) -> float:
    """The effective step ``s · LR``: how far one AdamW step can move ``ΔW`` (per unit of B·A)."""
    return scaling * lr


@dataclass(frozen=True, kw_only=True)
class LoraParams:
    """The LoRA hyperparameters of one trial and the numbers derived from them."""

    rank: int
    alpha: float
    lr: float
    use_rslora: bool = False
    loraplus_lr_ratio: float | None = None  # LoRA+: the B matrices train at ratio × LR

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha <= 0 or self.lr <= 0:
            raise ValueError(f"need rank >= 1, alpha > 0, lr > 0; got r={self.rank}, alpha={self.alpha}, lr={self.lr}")

    @property
    def c(self) -> float:
        return c_from_alpha(self.alpha, self.rank)

    @property
    def scaling(self) -> float:
        return lora_scaling(self.alpha, self.rank, self.use_rslora)

    @property
    def effective_step(self) -> float:
        return effective_step(self.scaling, self.lr)

    @property
    def b_effective_step(self) -> float:
        """The effective step of the B matrices: LoRA+ trains them at ratio × LR, so ``s·LR·ratio``
        (the same as :attr:`effective_step` without LoRA+)."""
        return effective_step(self.scaling, self.lr * (self.loraplus_lr_ratio or 1.0))

    def as_dict(self) -> dict[str, float | int | bool]:
        """Everything a trial records about its LoRA setting."""
        return {
            "r": self.rank,
            "alpha": self.alpha,
            "c": self.c,
            "lr": self.lr,
            "scaling": self.scaling,
            "effective_step": self.effective_step,
            "use_rslora": self.use_rslora,
            "loraplus_lr_ratio": self.loraplus_lr_ratio,
        }
