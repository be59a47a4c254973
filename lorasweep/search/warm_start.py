"""What ``compare --warm-start EXPERIMENT`` may start from (checked before Ray starts).

An earlier experiment's best trials are only a head start when "best" means the same thing and
they can be placed in this experiment's spaces: the earlier studies must optimize the same metric
in the same direction (from an eval_loss experiment into an accuracy one, "best" would enqueue
the worst), and at least one of its spaces must be one this experiment searches (otherwise
nothing would be enqueued, silently).
"""

from __future__ import annotations

from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError
from lorasweep.store import Storage


def check_warm_start(storage: Storage, exp: ExperimentConfig) -> None:
    """Raise a one-line :class:`LorasweepError` unless ``exp.warm_start`` can seed this experiment."""
    assert exp.warm_start is not None
    name = exp.warm_start.experiment
    where = f"warm_start.experiment '{name}'"
    if not storage.exists() or storage.schema_revision() is None:
        raise LorasweepError(f"{where}: this database holds no experiments")
    record = storage.experiment(name)  # an unknown name lists the known ones
    studies = storage.studies(record.id)
    if not studies:
        raise LorasweepError(f"{where} has no studies to start from; pick an experiment that ran")
    metric, direction = exp.metric.name, exp.metric.resolved_direction
    other = sorted({(s.metric, s.direction.value) for s in studies} - {(metric, direction.value)})
    if other:
        theirs = ", ".join(f"{m} ({d})" for m, d in other)
        raise LorasweepError(
            f"{where} optimized {theirs}, this experiment {metric} ({direction.value}): its best trials are not "
            "this experiment's; warm-start from an experiment with the same metric and direction"
        )
    ours = {s.name for s in exp.spaces}
    if not ours & {s.space for s in studies}:
        theirs = ", ".join(sorted({s.space for s in studies}))
        raise LorasweepError(
            f"{where} searched {theirs}, none of this experiment's spaces ({', '.join(sorted(ours))}); "
            "warm-start from an experiment that shares a space"
        )
