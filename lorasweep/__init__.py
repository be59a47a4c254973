"""lorasweep: compare tuning the learning rate with tuning the LoRA factor α, at equal budget.

Importing the package registers the built-in units that configs name: the task kinds
(:mod:`lorasweep.kinds`) and the samplers (:mod:`lorasweep.search.samplers`). The config holds
their registries and validates names against them without depending on the code behind them;
this is the one place that puts the two together (as peft's ``__init__`` registers its tuners).

The Python API (imported on first use, so ``import lorasweep`` stays light):

- :func:`compare` — compare the spaces on your own training function (:mod:`lorasweep.byo`);
- :class:`Trial`, :class:`TrialStopped`, :class:`TrialPruned`, :class:`TrialDiverged` — what that
  function gets and what ``trial.report`` raises (:mod:`lorasweep.train.user_code`);
- :func:`load`, :class:`Results` — a stored experiment as data frames (:mod:`lorasweep.results`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import Any

import lorasweep.kinds
import lorasweep.search.samplers  # noqa: F401  (registers the built-in samplers)

__all__ = ["Results", "Trial", "TrialDiverged", "TrialPruned", "TrialStopped", "compare", "load"]

_LAZY = {
    "compare": "lorasweep.byo",
    "load": "lorasweep.results",
    "Results": "lorasweep.results",
    "Trial": "lorasweep.train.user_code",
    "TrialStopped": "lorasweep.train.user_code",
    "TrialPruned": "lorasweep.train.user_code",
    "TrialDiverged": "lorasweep.train.user_code",
}


def __getattr__(name: str) -> Any:
    """The Python API, imported when first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'lorasweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
