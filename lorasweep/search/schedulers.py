"""Ray Tune schedulers by name. Early stopping comes from here (Optuna's pruners are not used
under Ray): ASHA stops trials at rungs of ``grace_period · reduction_factorᵏ`` steps."""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from lorasweep.config import BudgetConfig, SchedulerConfig, SchedulerName

#: The result key that counts training progress; trials report it at each evaluation.
TIME_ATTR = "step"


def make_scheduler(cfg: SchedulerConfig, budget: BudgetConfig) -> TrialScheduler:
    if cfg.name == SchedulerName.ASHA:
        return ASHAScheduler(
            time_attr=TIME_ATTR,
            max_t=budget.max_steps,
            grace_period=cfg.grace_period,
            reduction_factor=cfg.reduction_factor,
        )
    return FIFOScheduler()
