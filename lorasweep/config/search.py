"""How each study searches: its sampler (by registered name), its scheduler and its budget."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from pydantic import Field, field_validator

from lorasweep.config.fields import Float, Int, StrictModel
from lorasweep.registry import Registry

__all__ = ["SAMPLERS", "BudgetConfig", "SamplerConfig", "SamplerFactory", "SchedulerConfig", "SchedulerName"]

#: ``factory(seed, options, distributions, n_trials) -> optuna.samplers.BaseSampler``.
SamplerFactory = Callable[[int, dict[str, Any], dict[str, Any], int], Any]

#: Optuna samplers by name. The config checks names against it; the factories are registered by
#: :mod:`lorasweep.search.samplers` (built-in ones) or by any module that adds one, and import
#: Optuna only when they run.
SAMPLERS: Registry[SamplerFactory] = Registry("sampler")


class SamplerConfig(StrictModel):
    name: str = Field("tpe", description="a registered sampler: tpe, gp, cmaes, random, qmc, grid, ...")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the Optuna sampler")

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        SAMPLERS.get(name)  # an unknown name: an error that lists the valid ones
        return name


class SchedulerName(enum.StrEnum):
    ASHA = "asha"
    FIFO = "fifo"


class SchedulerConfig(StrictModel):
    name: SchedulerName = SchedulerName.ASHA
    grace_period: Int = Field(20, ge=1, description="ASHA: steps before a trial can be stopped")
    reduction_factor: Float = Field(2.0, gt=1.0, description="ASHA: keep 1/reduction_factor per rung")


class BudgetConfig(StrictModel):
    trials: Int = Field(8, ge=1, description="trials per space and rank")
    max_steps: Int = Field(60, ge=1, description="optimizer steps per trial")
    eval_every: Int = Field(10, ge=1, description="evaluate and report every k steps")
