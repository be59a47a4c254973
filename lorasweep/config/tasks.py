"""Tasks as data: the fields every task shares (:class:`TaskFields`), the registry of kinds, and
:data:`TaskConfig`, a task of any registered kind chosen by its ``kind:`` key.

A task kind is one unit in one module (the built-in ones are in :mod:`lorasweep.kinds`): a
subclass of :class:`lorasweep.api.TaskBase` (the seam: this module's fields plus the behaviour —
checks, head, data, workload) registered with :func:`lorasweep.api.task_kind`. This module holds
only what validating a config needs, so the config never imports the seam.

Why a registry and not a static ``Field(discriminator="kind")`` union (as the α rules have): a
pydantic union fixes its members when the model that holds it is built, so a kind defined later
(a plugin, a test module) could not join it. :data:`TaskConfig` looks the kind up when it
validates, and puts the kind into error locations as pydantic's own tagged unions do
(``task.generated.num_labels``), so messages are built the same way for both.

This module imports no torch, transformers or peft (the CLI validates configs without them).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field, SerializeAsAny, TypeAdapter, ValidationError, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lorasweep.config.fields import MAX_SEED, Int, StrictModel
from lorasweep.metrics import Metric
from lorasweep.registry import Registry

__all__ = [
    "LEGACY_COLUMNS",
    "TASK_KINDS",
    "DataSource",
    "TaskConfig",
    "TaskFields",
    "check_columns",
    "kind_name",
    "parse_task",
]


class TaskFields(StrictModel):
    """The data half of a task: a name, its split sizes, the seed of its data, and the metrics its
    kind reports. A task kind (:class:`lorasweep.api.TaskBase`, which adds the behaviour: checks,
    workload) subclasses this through ``TaskBase``; the config validates and reads only these."""

    name: str = Field(min_length=1)
    description: str = ""
    kind: str = Field(description="the task kind (`lorasweep tasks kinds` lists them)")
    n_train: Int = Field(ge=1, description="training examples")
    n_eval: Int = Field(ge=1, description="evaluation examples")
    data_seed: Int = Field(0, ge=0, le=MAX_SEED, description="seed of the task's data (fixed: the task, not the trial)")
    n_test: Int | None = Field(
        None,
        ge=1,
        description="test examples, disjoint from the eval examples the search selects on (seed re-runs and "
        "ablations are judged on them); default: n_eval",
    )

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

    @property
    def test_size(self) -> int:
        """How many test examples the task holds out (``n_test``, default ``n_eval``)."""
        return self.n_test if self.n_test is not None else self.n_eval

    def test_source(self) -> str:
        """How the test split was made, in words (what the report states beside the test metric).

        A task that reads a dataset (``data:``, a :class:`DataSource`): a named split or rows held
        out of the train split; any other task draws its test examples as it draws the others."""
        data, n, seed = getattr(self, "data", None), self.test_size, self.data_seed
        if isinstance(data, DataSource):
            if data.test_split is None:
                return f"held out {n} rows of {data.train_split} with data_seed {seed}"
            if data.test_split == data.eval_split:
                return f"split {data.test_split}: {n} rows other than the eval rows (data_seed {seed})"
            return f"split {data.test_split}: {n} rows (data_seed {seed})"
        return f"generated: {n} examples of a draw of their own (data_seed {seed}), none a train or eval example"

    def chance(self, metric: str) -> float | None:
        """The value of ``metric`` for a model that ignores its input (a chance level a best
        value can be tested against), or None when the kind has none."""
        return None


#: Task kinds by name (registered by :func:`lorasweep.api.task_kind`).
TASK_KINDS: Registry[type[TaskFields]] = Registry("task kind")


def kind_name(cls: type[TaskFields]) -> str:
    """The ``kind:`` value of a task class (its ``Literal``)."""
    args = typing.get_args(cls.model_fields["kind"].annotation)
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__}: declare the kind's name as kind: Literal['NAME']")
    return args[0]


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


def _validate_task(value: Any, handler: Any) -> TaskFields:
    """A task of the kind its ``kind:`` names, validated by that kind's class."""
    if isinstance(value, TaskFields):
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

    def members(self) -> dict[str, type[TaskFields]]:
        return {name: TASK_KINDS.get(name) for name in TASK_KINDS}


#: A task of any registered kind (a field type: ``task: TaskConfig``); dumps hold the kind's fields.
TaskConfig = Annotated[SerializeAsAny[TaskFields], WrapValidator(_validate_task), KindUnion()]

_ADAPTER: TypeAdapter[TaskFields] | None = None


def task_adapter() -> TypeAdapter[TaskFields]:
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(TaskConfig)
    return _ADAPTER


def parse_task(data: Mapping[str, Any] | str | bytes) -> TaskFields:
    """A task from a mapping or its JSON (what ``task.model_dump_json()`` wrote)."""
    adapter = task_adapter()
    return adapter.validate_json(data) if isinstance(data, (str, bytes)) else adapter.validate_python(data)


# ---------------------------------------------------------------------------------------------
# What the kinds that read a dataset share


#: The column roles the one shared column map of earlier versions wrote for every kind, with their
#: defaults. Stored experiments carry all of them; a kind that does not read a role accepts it at
#: exactly this value and drops it.
LEGACY_COLUMNS: dict[str, str | None] = {
    "text": "text",
    "text_pair": None,
    "label": "label",
    "prompt": "prompt",
    "completion": "completion",
}


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
    test_split: str | None = Field(
        None,
        description="split whose rows judge seed re-runs and ablations (never selected on); none: the test "
        "examples are held out from the train split",
    )
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="which column holds what, by role (the task kind names its roles and their defaults: "
        "text/text_pair/label, prompt/completion, ...)",
    )
    label_names: list[str] | None = Field(
        None, description="string labels in id order (for datasets whose label column holds names)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.path is None) == (self.data_files is None):
            raise ValueError("give exactly one of path (hub id, folder or file) and data_files (split → file)")
        if self.test_split is not None and self.test_split == self.train_split:
            raise ValueError(
                f"test_split '{self.test_split}' is the train split; name another split, or leave it out to hold "
                "the test rows out of the train split"
            )
        return self


def check_columns(data: DataSource, kind: str, roles: Mapping[str, str | None]) -> DataSource:
    """``data`` with its column map completed from the roles a ``kind`` task reads (role →
    default column, None: optional); a role it does not read is a ValueError naming it (earlier
    versions' roles at their old defaults are dropped)."""
    given = {k: v for k, v in data.columns.items() if k in roles or LEGACY_COLUMNS.get(k, ...) != v}
    foreign = sorted(set(given) - set(roles))
    if foreign:
        raise ValueError(f"columns.{foreign[0]} is not read by a {kind} task (it reads {', '.join(roles)}); remove it")
    return data.model_copy(update={"columns": {**roles, **given}})
