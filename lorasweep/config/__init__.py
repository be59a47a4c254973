"""Experiments, search spaces and tasks as data: the schemas and the one YAML loader.

Each file kind has a pydantic model; :func:`load_experiment`, :func:`load_space` and
:func:`load_task` read a file and validate it, and any problem becomes one
:class:`~lorasweep.errors.ConfigError` line that names the file, the field, the value and the fix
(unknown keys get a "did you mean" suggestion). Built-in files live in the package
(``lorasweep/experiments``, ``lorasweep/space/builtin``, ``lorasweep/tasks``) and are found by
name; anything else is a path.

The modules, one concern each:

- :mod:`~lorasweep.config.fields`: strict models, numbers, ranges, names (shared by all);
- :mod:`~lorasweep.config.alpha`: the α rules (one class per rule, a union on ``rule:``);
- :mod:`~lorasweep.config.spaces`: search spaces;
- :mod:`~lorasweep.config.tasks`: what every task kind shares, the kinds' registry and
  :data:`TaskConfig` (the kinds themselves are in :mod:`lorasweep.kinds`);
- :mod:`~lorasweep.config.search`, :mod:`~lorasweep.config.training`: sampler (registry),
  scheduler, budget; model, optimizer settings, resources, Ray;
- :mod:`~lorasweep.config.experiment`: the experiment and its checks across parts;
- :mod:`~lorasweep.config.loading`, :mod:`~lorasweep.config.messages`: files and error lines.

Metrics and their directions are in :mod:`lorasweep.metrics` (the store uses them without the
config); :class:`Direction` is re-exported here. Nothing in this package imports torch,
transformers, peft or optuna.
"""

from lorasweep.config.alpha import (
    AlphaRule,
    AlphaRuleBase,
    FixedAlpha,
    RankMultipleAlpha,
    RankPowerAlpha,
    SearchedAlpha,
    SqrtRankAlpha,
)
from lorasweep.config.experiment import (
    DEFAULT_KS,
    MAX_REPEATS,
    AblationConfig,
    ExperimentConfig,
    MetricConfig,
    SeedsConfig,
    TargetConfig,
    WarmStartConfig,
)
from lorasweep.config.fields import (
    BUILTIN_PREFIX,
    MATCHED,
    MAX_SEED,
    NAME_PATTERN,
    PACKAGE_PREFIX,
    Float,
    FloatRange,
    Int,
    Matched,
    Name,
    PositiveFloat,
    StrictModel,
)
from lorasweep.config.loading import (
    MAX_YAML_BYTES,
    builtin_names,
    experiment_from_dict,
    find_file,
    load_experiment,
    load_space,
    load_task,
    read_yaml,
)
from lorasweep.config.messages import describe_validation_error, validate
from lorasweep.config.search import (
    SAMPLERS,
    BudgetConfig,
    SamplerConfig,
    SamplerFactory,
    SchedulerConfig,
    SchedulerName,
)
from lorasweep.config.spaces import SpaceConfig
from lorasweep.config.tasks import (
    LEGACY_COLUMNS,
    TASK_KINDS,
    DataSource,
    TaskConfig,
    TaskFields,
    check_columns,
    kind_name,
    parse_task,
)
from lorasweep.config.training import (
    GpuShareChoice,
    LrDecay,
    ModelConfig,
    RayConfig,
    ResourcesConfig,
    TrainingConfig,
)
from lorasweep.metrics import Direction

__all__ = [
    "BUILTIN_PREFIX",
    "DEFAULT_KS",
    "LEGACY_COLUMNS",
    "MATCHED",
    "MAX_REPEATS",
    "MAX_SEED",
    "MAX_YAML_BYTES",
    "NAME_PATTERN",
    "PACKAGE_PREFIX",
    "SAMPLERS",
    "TASK_KINDS",
    "AblationConfig",
    "AlphaRule",
    "AlphaRuleBase",
    "BudgetConfig",
    "DataSource",
    "Direction",
    "ExperimentConfig",
    "FixedAlpha",
    "Float",
    "FloatRange",
    "GpuShareChoice",
    "Int",
    "LrDecay",
    "Matched",
    "MetricConfig",
    "ModelConfig",
    "Name",
    "PositiveFloat",
    "RankMultipleAlpha",
    "RankPowerAlpha",
    "RayConfig",
    "ResourcesConfig",
    "SamplerConfig",
    "SamplerFactory",
    "SchedulerConfig",
    "SchedulerName",
    "SearchedAlpha",
    "SeedsConfig",
    "SpaceConfig",
    "SqrtRankAlpha",
    "StrictModel",
    "TargetConfig",
    "TaskConfig",
    "TaskFields",
    "TrainingConfig",
    "WarmStartConfig",
    "builtin_names",
    "check_columns",
    "describe_validation_error",
    "experiment_from_dict",
    "find_file",
    "kind_name",
    "load_experiment",
    "load_space",
    "load_task",
    "parse_task",
    "read_yaml",
    "validate",
]
