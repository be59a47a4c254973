"""``kind: python``: the user's own training code. The task names a callable (``entrypoint:
"mypkg.train:fit"``) that lorasweep calls once per trial with a :class:`~lorasweep.train.user_code.Trial`
(rank, α, LR, seed, budget, a ready ``peft.LoraConfig``, ``report``), and declares the metrics that
callable reports, each with its direction. Everything else — spaces and their matched s·LR
coverage, sampler, scheduler, seeds, budget, device time, storage, reports — is the experiment's,
exactly as for the built-in kinds.

```yaml
task:
  kind: python
  entrypoint: train:fit              # MODULE:CALLABLE, imported from python_path (default: this file's folder)
  metrics: [{name: eval_accuracy, direction: maximize}, {name: eval_loss, direction: minimize}]
  target_modules: [query, value]     # or all-linear
  params: {data: reviews.csv}        # anything else the callable reads (trial.params)
metric: {name: eval_accuracy}
```

The entrypoint is imported before Ray starts (an import error is one line and exit 2) and again in
each worker (from ``python_path``, or the ``ray job submit --working-dir`` on the worker's path).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lorasweep.api import TaskBase, task_kind
from lorasweep.config import Int, ModelConfig
from lorasweep.config.fields import StrictModel
from lorasweep.metrics import Direction, Metric, define_metric

if TYPE_CHECKING:
    from lorasweep.config import ExperimentConfig
    from lorasweep.train.user_runner import UserCode

__all__ = ["DeclaredMetric", "PythonTask"]


class DeclaredMetric(StrictModel):
    """A metric the user's callable reports: its name (the key it passes to ``report``) and direction."""

    name: str = Field(min_length=1, description="the key in report(step, {name: value})")
    direction: Direction = Field(description="maximize or minimize")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"metric name {name!r} must be a Python identifier (letters, digits, '_')")
        return name


with warnings.catch_warnings():  # ``metrics`` is a field here, TaskBase's class-level list elsewhere
    warnings.filterwarnings("ignore", message='Field name "metrics"', category=UserWarning)

    @task_kind
    class PythonTask(TaskBase):
        """The user's training code: a callable lorasweep calls once per trial."""

        kind: Literal["python"]
        name: str = Field("python", min_length=1, description="a name for the task in reports")
        n_train: Int = Field(1, ge=1, description="not used: the callable reads its own data")
        n_eval: Int = Field(1, ge=1, description="not used: the callable reads its own data")
        entrypoint: str = Field(description="MODULE:CALLABLE, e.g. mypkg.train:fit")
        metrics: list[DeclaredMetric] = Field(  # type: ignore[assignment]
            min_length=1, description="what the callable reports: [{name, direction}, ...]"
        )
        target_modules: list[str] | Literal["all-linear"] = Field(
            description="modules of the user's model that get LoRA (trial.lora_config.target_modules)"
        )
        lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
        peft_task_type: str | None = Field(
            None, description="PEFT task type of trial.lora_config (e.g. SEQ_CLS, CAUSAL_LM)"
        )
        modules_to_save: list[str] | None = Field(
            None, description="modules trained in full and saved with the adapter (e.g. a new classifier head)"
        )
        python_path: list[str] = Field(
            default_factory=lambda: ["."],
            description="folders put on sys.path to import the entrypoint (relative to the YAML file)",
        )
        params: dict[str, Any] = Field(default_factory=dict, description="the callable's own settings (trial.params)")

        task_declares_metrics: ClassVar[bool] = True
        runs_user_code: ClassVar[bool] = True

        @field_validator("entrypoint")
        @classmethod
        def _entrypoint_form(cls, value: str) -> str:
            module, _, attr = value.partition(":")
            if not module or not attr or not all(p.isidentifier() for p in [*module.split("."), *attr.split(".")]):
                raise ValueError(f"entrypoint {value!r} is not MODULE:CALLABLE; write e.g. mypkg.train:fit")
            return value

        @field_validator("metrics")
        @classmethod
        def _register(cls, metrics: list[DeclaredMetric]) -> list[DeclaredMetric]:
            names = [m.name for m in metrics]
            if len(set(names)) != len(names):
                raise ValueError(f"metrics list a name twice ({names}); declare each once")
            for m in metrics:  # a metric name keeps one direction everywhere (lorasweep.metrics)
                define_metric(m.name, m.direction, m.description)
            return metrics

        @model_validator(mode="after")
        def _not_a_reserved_key(self) -> PythonTask:
            reserved = {"step", "train_loss", "loss", "lr", "learning_rate", "examples", "tokens", "end"}
            taken = [m.name for m in self.metrics if m.name in reserved]
            if taken:
                raise ValueError(f"metric name {taken[0]} is one lorasweep records itself; name the metric otherwise")
            return self

        @property
        def metric_names(self) -> tuple[str, ...]:
            return tuple(m.name for m in self.metrics)

        def declared(self) -> tuple[Metric, ...]:
            """The declared metrics as registry metrics."""
            return tuple(Metric(name=m.name, direction=m.direction, description=m.description) for m in self.metrics)

        def test_source(self) -> str:
            return (
                "reported by the task's own code (trial.report(max_steps, ..., test={...})); lorasweep cannot "
                "check that it is disjoint from the examples the code evaluates on"
            )

        def check_data(self) -> None:
            """The entrypoint imports and is callable (one-line ConfigError otherwise)."""
            from lorasweep.train.user_runner import load_entrypoint

            load_entrypoint(self.entrypoint, self.python_path)

        def check_setup(self, exp: ExperimentConfig) -> None:
            self.check_data()

        def prepare_workload(self, model: ModelConfig) -> UserCode:  # type: ignore[override]
            """The user's callable, imported (trials call it instead of lorasweep's training loop)."""
            from lorasweep.train.user_runner import UserCode, load_entrypoint

            return UserCode(fn=load_entrypoint(self.entrypoint, self.python_path), entrypoint=self.entrypoint)
