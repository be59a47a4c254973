"""lorasweep: compare tuning the learning rate with tuning the LoRA factor α, at equal budget.

Importing the package registers the built-in units that configs name: the task kinds
(:mod:`lorasweep.kinds`) and the samplers (:mod:`lorasweep.search.samplers`). The config holds
their registries and validates names against them without depending on the code behind them;
this is the one place that puts the two together (as peft's ``__init__`` registers its tuners).
"""

from __future__ import annotations

__version__ = "0.1.0"

import lorasweep.kinds
import lorasweep.search.samplers  # noqa: F401  (registers the built-in samplers)
