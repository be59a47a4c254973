"""lorasweep's seams: what a maintainer subclasses or registers to extend it, each documented in
its module. Adding a unit is one new module plus, at most, one registration line.

- **Task kind** (:mod:`lorasweep.api.task`): :class:`TaskBase` (schema, metrics, checks),
  :class:`Workload` (model, data, batches, evaluation), :class:`TrainBatch`, :func:`add_lora`,
  registered with :func:`task_kind` into :data:`TASK_KINDS`. The model head is open
  (:class:`~lorasweep.api.head.Head`); a kind reads any dataset columns
  (:func:`lorasweep.train.sources.load_columns`) and encodes them itself.
- **α rule** (:mod:`lorasweep.api.alpha`): :class:`AlphaRuleBase` — describe, Optuna
  distributions, apply (the LoRA setting of a sampled point), the matched range per rank —
  registered with :func:`alpha_rule` into :data:`ALPHA_RULES`.
- **Report section** (:mod:`lorasweep.report.section`): ``Section`` and its output hooks,
  registered with ``@register`` into ``SECTIONS``. It is the one seam not re-exported here: its
  hooks take the experiment summary (:mod:`lorasweep.analysis`), which sits above the training
  seams, and this package sits below them (kinds, the trial and the runner import it), so a
  re-export would be an import cycle between packages.
- **Metric** (:mod:`lorasweep.metrics`): :class:`Metric` — name, direction, label and number
  format — declared by the kind that reports it (``metrics = (...)``), kept in :data:`METRICS`.
- **Sampler** (:mod:`lorasweep.config.search`): a factory registered with ``@SAMPLERS.add(name)``.
- **Registry** (:mod:`lorasweep.registry`): every registry above is a :class:`Registry`: name →
  unit, an unknown name is an error listing the valid ones.

This package imports no torch, transformers, peft, optuna or Ray at import time.
"""

from lorasweep.api.alpha import ALPHA_RULES, AlphaRuleBase, alpha_rule
from lorasweep.api.head import Head, causal_lm, sequence_classification
from lorasweep.api.task import TASK_KINDS, TaskBase, TrainBatch, Workload, add_lora, task_kind
from lorasweep.config.search import SAMPLERS
from lorasweep.metrics import METRICS, Direction, Metric
from lorasweep.registry import Registry, UnknownNameError
from lorasweep.scaling import LoraParams

__all__ = [
    "ALPHA_RULES",
    "METRICS",
    "SAMPLERS",
    "TASK_KINDS",
    "AlphaRuleBase",
    "Direction",
    "Head",
    "LoraParams",
    "Metric",
    "Registry",
    "TaskBase",
    "TrainBatch",
    "UnknownNameError",
    "Workload",
    "add_lora",
    "alpha_rule",
    "causal_lm",
    "sequence_classification",
    "task_kind",
]
