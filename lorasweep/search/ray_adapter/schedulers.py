"""Ray Tune schedulers by name, one per study. Early stopping comes from here (Optuna's pruners
are not used under Ray): ASHA stops trials at rungs of ``grace_period · reduction_factorᵏ`` steps.

Every study of an experiment runs in one Tune run, so :class:`PerStudyScheduler` gives each
study its own scheduler and routes each trial to its study's: ASHA's rungs are per study, and a
trial is only ever judged against trials of its own space and rank.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from lorasweep.config import BudgetConfig, SchedulerConfig, SchedulerName
from lorasweep.search.ray_adapter.keys import trial_study

#: The result key that counts training progress; trials report it at each evaluation.
TIME_ATTR = "step"


def make_scheduler(cfg: SchedulerConfig, budget: BudgetConfig) -> TrialScheduler:
    """The configured scheduler for one study."""
    if cfg.name == SchedulerName.ASHA:
        return ASHAScheduler(
            time_attr=TIME_ATTR,
            max_t=budget.max_steps,
            grace_period=cfg.grace_period,
            reduction_factor=cfg.reduction_factor,
        )
    return FIFOScheduler()


class PerStudyScheduler(FIFOScheduler):
    """Routes each trial to the scheduler of its study (the study its config names). Trials start
    in the order the searcher made them (first in, first out), whatever their study."""

    def __init__(self, schedulers: dict[str, TrialScheduler]) -> None:
        super().__init__()
        self.schedulers = schedulers

    def _of(self, trial: Any) -> TrialScheduler:
        return self.schedulers[trial_study(trial.config)]

    @property
    def supports_buffered_results(self) -> bool:
        return all(s.supports_buffered_results for s in self.schedulers.values())

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        ok = [s.set_search_properties(metric, mode, **spec) for s in self.schedulers.values()]
        return super().set_search_properties(metric, mode, **spec) and all(ok)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return self._of(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._of(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return "\n".join(f"{key}: {s.debug_string()}" for key, s in self.schedulers.items())
