"""The grid sampler lorasweep runs (imported by the ``grid`` sampler's factory when it runs: this
module imports Optuna, and a sampler Ray checkpoints must be a class pickle can find by name)."""

from __future__ import annotations

from typing import Any

import optuna


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler for the ask/tell loop that Ray drives. Optuna's version calls
    ``study.stop()`` once the grid is covered, which raises outside ``study.optimize``; here Ray
    stops the search at its trial count instead."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None
