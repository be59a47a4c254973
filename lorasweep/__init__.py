"""lorasweep: compare tuning the learning rate with tuning the LoRA factor α, at equal budget."""

from __future__ import annotations

__version__ = "0.1.0"
