"""Task kinds, one module each: its schema (fields and checks), the metrics it reports with their
directions, its workload (data, model head, training batches, evaluation) and its preflight
checks. A kind registers itself with :func:`~lorasweep.config.task_kind`; ``kind:`` in a task
file picks it from :data:`~lorasweep.config.TASK_KINDS`.

Adding a kind = adding one module (and its tests) that defines a :class:`~lorasweep.config.TaskBase`
subclass decorated with ``@task_kind``, and importing it here (a kind outside lorasweep registers
when its module is imported). A kind module is imported whenever a config is validated, so it
imports torch, transformers and peft inside the methods that build and run its workload, never
at the top: validating a config must not pay for them (see ``python -X importtime -c "import
lorasweep.config"``).

The built-in kinds: ``generated`` and ``classification`` (sequence classification),
``synthetic_regression`` (the ablation's MLP), ``causal_lm_sft`` (prompt → completion) and
``python`` (the user's own training code, called once per trial).
"""

from lorasweep.kinds.causal_lm_sft import CausalLmSftTask
from lorasweep.kinds.classification import ClassificationTask, LabelledTextTask
from lorasweep.kinds.generated import GeneratedTask
from lorasweep.kinds.python import PythonTask
from lorasweep.kinds.synthetic_regression import SyntheticRegressionTask

__all__ = [
    "CausalLmSftTask",
    "ClassificationTask",
    "GeneratedTask",
    "LabelledTextTask",
    "PythonTask",
    "SyntheticRegressionTask",
]
