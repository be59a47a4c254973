"""An experiment: everything one comparison needs (task, model, ranks, spaces, sampler, budget,
...), stored with it so that it can be reproduced; and the checks across its parts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from lorasweep.config.fields import BUILTIN_PREFIX, MAX_SEED, Float, FloatRange, Int, Name, PositiveFloat, StrictModel
from lorasweep.config.search import BudgetConfig, SamplerConfig, SchedulerConfig, SchedulerName
from lorasweep.config.spaces import SpaceConfig
from lorasweep.config.tasks import TASK_KINDS, TaskConfig
from lorasweep.config.training import ModelConfig, RayConfig, ResourcesConfig, TrainingConfig
from lorasweep.metrics import Direction, metric

__all__ = [
    "DEFAULT_KS",
    "MAX_REPEATS",
    "AblationConfig",
    "ExperimentConfig",
    "MetricConfig",
    "SeedsConfig",
    "TargetConfig",
    "WarmStartConfig",
]


class MetricConfig(StrictModel):
    """The metric every study optimizes: one the task's kind reports (checked with the task)."""

    name: str = Field("accuracy", description="a metric the task's kind reports (e.g. accuracy, eval_loss)")
    direction: Direction | None = Field(None, description="defaults to the metric's natural direction")

    @property
    def resolved_direction(self) -> Direction:
        return self.direction or metric(self.name).direction

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        metric(name)  # an unknown name: an error that lists the metrics task kinds report
        return name

    @model_validator(mode="after")
    def _direction_matches(self) -> MetricConfig:
        natural = metric(self.name).direction
        if self.direction is not None and self.direction != natural:
            raise ValueError(
                f"metric {self.name} is to {natural.value}, not {self.direction.value}; "
                f"set direction: {natural.value} or leave it out"
            )
        return self


class TargetConfig(StrictModel):
    within: Float = Field(
        0.01,
        ge=0.0,
        lt=1.0,
        description="no longer sets the target (one search's best is no target: see value); kept so that "
        "older experiment files load",
    )
    value: Float | None = Field(
        None,
        description="the metric value searches must reach (the cost to target); default: the median of the best "
        "values all repeated searches found, else the median of the seed re-runs' values, else no target",
    )


class SeedsConfig(StrictModel):
    n: Int = Field(0, ge=0, description="re-run each space's top configs on this many new seeds (0: off)")
    top_k: Int = Field(1, ge=1, description="how many of each space's best configs to re-run")
    auto: bool = Field(
        False,
        description="add seeds in batches at the verdict's planned looks (7, 10, 13, 16, 20 seeds) until it decides "
        "or the maximum is reached (compare --seeds auto); n is then the seeds run so far",
    )
    looks: list[Int] = Field(
        default_factory=list,
        description="seed counts at which a verdict was shown (recorded by compare; each look is charged to the "
        "verdict's 5 % error rate, so seeds added later keep it)",
    )


#: Most repeated searches per space and rank (each repeat's sampler seed is offset by
#: ``REPEAT_SEED_STRIDE`` × its index, which must stay within numpy's 32-bit seeds).
MAX_REPEATS = 1000

#: The ablation's default multipliers: 1, 2, 4, …, 256.
DEFAULT_KS = [float(2**i) for i in range(9)]


class AblationConfig(StrictModel):
    """The matched-step ablation: from a base (rank, α, LR), one arm multiplies α by each k, the
    other multiplies the LR by each k; same seed, data and steps at every point."""

    rank: Int = Field(8, ge=1, description="LoRA rank of every point")
    alpha: PositiveFloat = Field(16.0, description="base α (the alpha arm runs α·k)")
    lr: PositiveFloat = Field(1e-3, description="base learning rate (the lr arm runs LR·k)")
    ks: list[PositiveFloat] = Field(default_factory=lambda: list(DEFAULT_KS), min_length=2)
    use_rslora: bool = Field(False, description="scale by α/√r instead of α/r")
    target: Float | None = Field(
        None, description="metric value that counts as reached (default: the base point's final value)"
    )

    @field_validator("ks")
    @classmethod
    def _distinct(cls, ks: list[float]) -> list[float]:
        if len(set(ks)) != len(ks):
            raise ValueError(f"ks repeat a value ({ks}); list each multiplier once")
        return sorted(ks)


class WarmStartConfig(StrictModel):
    """Start each study with the best points of an earlier experiment's study of the same space
    (``compare --warm-start EXPERIMENT``): Optuna evaluates them first, then samples as usual."""

    experiment: Name = Field(min_length=1, description="an experiment in the same database")
    top_k: Int = Field(2, ge=1, description="best complete trials to take from each earlier study")


class ExperimentConfig(StrictModel):
    """Everything one comparison needs; stored with the experiment so it can be reproduced."""

    name: Name | None = Field(None, min_length=1, max_length=64)
    description: str = ""
    task: TaskConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    ranks: list[Annotated[Int, Field(ge=1)]] = Field(default_factory=lambda: [8], min_length=1)
    spaces: list[SpaceConfig] = Field(default_factory=list, description="the spaces to compare (≥ 1)")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    max_concurrent_trials: Int = Field(1, ge=1)
    ray: RayConfig = Field(default_factory=RayConfig)
    metric: MetricConfig = Field(default_factory=MetricConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    repeats: Int = Field(
        1,
        ge=1,
        le=MAX_REPEATS,
        description="independent searches per space and rank, each with its own sampler seed (repeat i of every "
        "space has the same one, so repeats pair across spaces); 1: one search",
    )
    effective_step: FloatRange | None = Field(
        default_factory=lambda: FloatRange(low=2e-6, high=2e-2),
        description="the range of s·LR (LoRA scaling × LR) every space searches: a space's 'matched' range is "
        "derived from it per rank, so all spaces cover the same effective steps (equal budget includes equal "
        "coverage); default 2e-6..2e-2, what LR 1e-6..1e-2 covers at α = 2r",
    )
    ablation: AblationConfig | None = Field(None, description="settings of `lorasweep ablation`")
    warm_start: WarmStartConfig | None = Field(None, description="seed the studies with an earlier experiment's best")

    @field_validator("ranks")
    @classmethod
    def _unique_ranks(cls, ranks: list[int]) -> list[int]:
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"ranks repeat a value ({ranks}); list each rank once")
        return ranks

    @field_validator("spaces")
    @classmethod
    def _unique_spaces(cls, spaces: list[SpaceConfig]) -> list[SpaceConfig]:
        names = [s.name for s in spaces]
        if len(set(names)) != len(names):
            raise ValueError(f"spaces repeat a name ({names}); give each space its own name")
        return spaces

    @model_validator(mode="after")
    def _checks_across_fields(self) -> ExperimentConfig:
        if not self.spaces and self.ablation is None:
            raise ValueError("spaces is empty; list at least one space, e.g. spaces: [lr_only, lora_alpha]")
        if self.effective_step is None and (matched := [s.name for s in self.spaces if s.matched]):
            raise ValueError(
                f"spaces {', '.join(matched)} match their range to effective_step, which is null; set "
                "effective_step: {low, high} or give those spaces explicit ranges"
            )
        self._model_fits_task()
        if self.metric.name not in self.task.metric_names:
            raise ValueError(
                f"metric.name {self.metric.name} is not reported by a {self.task.kind} task; "
                f"use one of {', '.join(self.task.metric_names)}"
            )
        if self.budget.eval_every > self.budget.max_steps:
            raise ValueError(
                f"budget.eval_every ({self.budget.eval_every}) exceeds budget.max_steps "
                f"({self.budget.max_steps}); lower eval_every"
            )
        if self.scheduler.name == SchedulerName.ASHA and self.scheduler.grace_period > self.budget.max_steps:
            raise ValueError(
                f"scheduler.grace_period ({self.scheduler.grace_period}) exceeds budget.max_steps "
                f"({self.budget.max_steps}); lower grace_period or use scheduler fifo"
            )
        return self

    def _model_fits_task(self) -> None:
        """A kind that builds its own model (``builtin:NAME``) gets exactly that; no other kind does."""
        own, name = self.task.builtin_model, self.model.name_or_path
        if own is not None and name != own:
            raise ValueError(
                f"task {self.task.name} ({self.task.kind}) builds its own model; set model.name_or_path: {own}"
            )
        if own is None and name.startswith(BUILTIN_PREFIX):
            kinds = [k for k in TASK_KINDS if TASK_KINDS.get(k).builtin_model == name]
            goes_with = f"a {' or '.join(kinds)} task" if kinds else "no task kind"
            raise ValueError(f"model {name} only goes with {goes_with}; pick another model")
