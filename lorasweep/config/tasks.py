"""Tasks: the fields every task kind shares (:class:`TaskBase`), the registry of kinds, and
:data:`TaskConfig`, a task of any registered kind chosen by its ``kind:`` key.

A task kind is one unit in one module (the built-in ones are in :mod:`lorasweep.kinds`): a
subclass of :class:`TaskBase` with ``kind: Literal["NAME"]``, its own fields and checks, the
metrics it reports (each with its direction), its workload (data, model head, training batches,
evaluation) and its preflight checks, registered with :func:`task_kind`.

Why a registry and not a static ``Field(discriminator="kind")`` union (as the α rules have): a
pydantic union fixes its members when the model that holds it is built, so a kind defined later
(a plugin, a test module) could not join it. :data:`TaskConfig` looks the kind up when it
validates, and puts the kind into error locations as pydantic's own tagged unions do
(``task.generated.num_labels``), so messages are built the same way for both.

This module imports no torch, transformers or peft (the CLI validates configs without them): a
kind's workload is built by a method that imports them when it runs.
"""

from __future__ import annotations

import abc
import inspect
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import Field, SerializeAsAny, TypeAdapter, ValidationError, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lorasweep.config.fields import MAX_SEED, Int, StrictModel, non_default
from lorasweep.metrics import METRICS, Metric, define_metric
from lorasweep.registry import Registry

if TYPE_CHECKING:
    from lorasweep.config.experiment import ExperimentConfig
    from lorasweep.config.training import ModelConfig
    from lorasweep.train.base import Workload

__all__ = [
    "TASK_KINDS",
    "ColumnMap",
    "DataSource",
    "TaskBase",
    "TaskConfig",
    "check_columns",
    "parse_task",
    "task_kind",
]


class TaskBase(StrictModel, abc.ABC):
    """What every task has: a name, its split sizes and the seed of its data. A kind adds its own
    fields (``kind: Literal["NAME"]`` first), declares :attr:`metrics`, and implements the three
    methods below."""

    name: str = Field(min_length=1)
    description: str = ""
    kind: str = Field(description="the task kind (`lorasweep tasks kinds` lists them)")
    n_train: Int = Field(ge=1, description="training examples")
    n_eval: Int = Field(ge=1, description="evaluation examples")
    data_seed: Int = Field(0, ge=0, le=MAX_SEED, description="seed of the task's data (fixed: the task, not the trial)")

    #: The metrics a trial of this kind reports, each with its direction (``metric.name`` must be
    #: one of them; every one is stored with each report).
    metrics: ClassVar[tuple[Metric, ...]] = ()
    #: ``model.name_or_path`` of the model this kind builds itself (e.g. ``builtin:mlp``); None:
    #: the experiment's model is loaded.
    builtin_model: ClassVar[str | None] = None
    #: True for a kind whose tasks declare their own metrics (``metrics:`` in the task, as
    #: ``kind: python`` does) instead of the class listing them.
    task_declares_metrics: ClassVar[bool] = False
    #: True for a kind whose trials run the user's own training code (``kind: python``) instead of
    #: lorasweep's loop (:func:`lorasweep.train.train.run_trial`).
    runs_user_code: ClassVar[bool] = False

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def chance(self, metric: str) -> float | None:
        """The value of ``metric`` for a model that ignores its input (a chance level a best
        value can be tested against), or None when the kind has none."""
        return None

    @abc.abstractmethod
    def check_data(self) -> None:
        """The task's own data (read, columns and labels checked) or generator params; no model.
        Raises :class:`~lorasweep.errors.ConfigError`."""

    @abc.abstractmethod
    def check_setup(self, exp: ExperimentConfig) -> None:
        """What every trial of ``exp`` would trip over, without loading weights: the data, the
        tokenizer, the model's architecture with LoRA on ``model.target_modules`` (on PyTorch's
        meta device). Raises :class:`~lorasweep.errors.ConfigError`."""

    @abc.abstractmethod
    def prepare_workload(self, model: ModelConfig) -> Workload:
        """The task's data and base model, prepared for trials (the expensive part: tokenizing,
        pre-training); trials of the same task and model reuse it."""


T = TypeVar("T", bound=type[TaskBase])

#: Task kinds by name.
TASK_KINDS: Registry[type[TaskBase]] = Registry("task kind")


def kind_name(cls: type[TaskBase]) -> str:
    """The ``kind:`` value of a task class (its ``Literal``)."""
    args = typing.get_args(cls.model_fields["kind"].annotation)
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__}: declare the kind's name as kind: Literal['NAME']")
    return args[0]


def task_kind(cls: T) -> T:
    """Register a task kind (a class decorator): its name comes from ``kind: Literal[...]``, and
    its metrics join the metric registry (a metric name keeps one direction everywhere)."""
    name = kind_name(cls)
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TypeError(f"task kind {name} ({cls.__name__}) does not implement {missing}")
    if not cls.metrics and not cls.task_declares_metrics:
        raise TypeError(f"task kind {name} ({cls.__name__}) declares no metrics; set metrics = (Metric, ...)")
    names = [m.name for m in cls.metrics] if not cls.task_declares_metrics else []
    if len(set(names)) != len(names):
        raise TypeError(f"task kind {name} ({cls.__name__}) lists a metric twice: {names}")
    for m in cls.metrics if not cls.task_declares_metrics else ():  # every check before anything is registered
        if m.name in METRICS and (known := METRICS.get(m.name).direction) != m.direction:
            raise ValueError(
                f"task kind {name}: metric '{m.name}' is already registered to {known.value}; "
                f"a metric that is to {m.direction.value} needs another name"
            )
    if name in TASK_KINDS and TASK_KINDS.get(name) is not cls:
        raise ValueError(f"task kind '{name}' is already registered (by {TASK_KINDS.get(name).__name__}); rename it")
    for m in cls.metrics if not cls.task_declares_metrics else ():
        define_metric(m.name, m.direction, m.description)
    TASK_KINDS.register(name, cls)
    return cls


#: Keys that the single task schema of earlier versions wrote for every kind, with the value that
#: meant "not set". Stored experiments (and YAML written by ``tasks show`` then) carry them; a
#: kind without such a field accepts the key at exactly this value and drops it.
LEGACY_UNSET: dict[str, Any] = {
    "generator": None,
    "num_labels": None,
    "max_length": 64,
    "params": {},
    "data": None,
    "chat_template": True,
    "answer": None,
    "max_new_tokens": 64,
    "packing": False,
}


def _error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        "TaskConfig", [InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)]
    )


def _validate_task(value: Any, handler: Any) -> TaskBase:
    """A task of the kind its ``kind:`` names, validated by that kind's class."""
    if isinstance(value, TaskBase):
        return value
    if not isinstance(value, Mapping):
        raise PydanticCustomError("model_type", "a task is a mapping of name, kind, n_train, n_eval, ...")
    kinds = ", ".join(TASK_KINDS.names())
    kind = value.get("kind")
    if kind is None:
        raise _error(("kind",), "task_kind", f"a task needs kind: one of {kinds}; add it", value)
    if not isinstance(kind, str) or kind not in TASK_KINDS:
        raise _error(("kind",), "task_kind", f"unknown task kind; valid task kinds: {kinds}; pick one", kind)
    cls = TASK_KINDS.get(kind)
    data = {k: v for k, v in value.items() if k in cls.model_fields or k not in LEGACY_UNSET or v != LEGACY_UNSET[k]}
    try:
        return cls.model_validate(data)
    except ValidationError as e:  # the kind goes into the location, as in pydantic's tagged unions
        raise ValidationError.from_exception_data(
            e.title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(err["type"], err["msg"]), loc=(kind, *err["loc"]), input=err["input"]
                )
                for err in e.errors()
            ],
        ) from None


class KindUnion:
    """Marks :data:`TaskConfig` for :mod:`lorasweep.config.messages`: its members, by tag."""

    discriminator = "kind"

    def members(self) -> dict[str, type[TaskBase]]:
        return {name: TASK_KINDS.get(name) for name in TASK_KINDS}


#: A task of any registered kind (a field type: ``task: TaskConfig``); dumps hold the kind's fields.
TaskConfig = Annotated[SerializeAsAny[TaskBase], WrapValidator(_validate_task), KindUnion()]

_ADAPTER: TypeAdapter[TaskBase] | None = None


def task_adapter() -> TypeAdapter[TaskBase]:
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(TaskConfig)
    return _ADAPTER


def parse_task(data: Mapping[str, Any] | str | bytes) -> TaskBase:
    """A task from a mapping or its JSON (what ``task.model_dump_json()`` wrote)."""
    adapter = task_adapter()
    return adapter.validate_json(data) if isinstance(data, (str, bytes)) else adapter.validate_python(data)


# ---------------------------------------------------------------------------------------------
# What the kinds that read a dataset share


class ColumnMap(StrictModel):
    """Which columns of a dataset hold what: text, optional second text and label (classification),
    or prompt and completion (causal_lm_sft)."""

    text: str = "text"
    text_pair: str | None = Field(None, description="second text of a pair task (e.g. premise/hypothesis)")
    label: str = "label"
    prompt: str = Field("prompt", description="causal_lm_sft: the prompt (e.g. question for GSM8K)")
    completion: str = Field("completion", description="causal_lm_sft: the target completion (e.g. answer)")


class DataSource(StrictModel):
    """Where a task's examples come from. ``path`` is a hub id (``glue``), a local folder laid out
    like a hub snapshot, or one JSONL / CSV / Parquet file (train split); ``data_files`` maps split
    names to files instead (as ``datasets.load_dataset`` takes them)."""

    path: str | None = Field(None, min_length=1, description="hub id, local folder, or a .jsonl/.csv/.parquet file")
    data_files: dict[str, str] | None = Field(None, description="split → local file, e.g. {train: a.csv, test: b.csv}")
    config: str | None = Field(None, description="the hub dataset's config name, e.g. sst2 for glue")
    revision: str | None = Field(None, description="hub revision (commit or tag) to pin")
    train_split: str = "train"
    eval_split: str | None = Field(
        None, description="split to evaluate on; none: the eval examples are held out from the train split"
    )
    columns: ColumnMap = Field(default_factory=ColumnMap)
    label_names: list[str] | None = Field(
        None, description="string labels in id order (for datasets whose label column holds names)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.path is None) == (self.data_files is None):
            raise ValueError("give exactly one of path (hub id, folder or file) and data_files (split → file)")
        return self


def check_columns(data: DataSource, kind: str, reads: tuple[str, ...]) -> DataSource:
    """``data`` maps only the columns a ``kind`` task reads (``reads``); else a ValueError naming it."""
    foreign = sorted(set(non_default(data.columns)) - set(reads))
    if foreign:
        raise ValueError(f"columns.{foreign[0]} is not read by a {kind} task (it reads {', '.join(reads)}); remove it")
    return data
