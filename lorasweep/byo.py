"""``lorasweep.compare(fit, ...)``: the comparison on the user's own training code, from Python.

The same run as ``lorasweep compare`` with a ``kind: python`` task: one Ray Tune run of every
space × rank study, matched s·LR coverage, equal budgets, seeds, sampler and scheduler, the store,
and the reports; only the training is the user's (see :mod:`lorasweep.train.user_code` for the
callable's contract). A ``fit`` defined in ``__main__`` (a script, a notebook) travels to the Ray
workers by value; one from an importable module is imported by the workers from that module's
folder. The experiment records its ``MODULE:NAME``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lorasweep.results import Results
    from lorasweep.store import Storage
    from lorasweep.train.user_code import Trial

__all__ = ["compare", "entrypoint_of"]

log = logging.getLogger("lorasweep.byo")


def entrypoint_of(fit: Callable[..., Any]) -> str:
    """``MODULE:QUALNAME`` of a function defined at a module's top level (``__main__`` included)."""
    module, name = getattr(fit, "__module__", None), getattr(fit, "__qualname__", None)
    if not module or not name or "<" in name:
        raise ValueError(
            f"compare(fit): {fit!r} is not a function defined at a module's top level; define fit there "
            "(a notebook cell counts) or pass its entrypoint as 'MODULE:NAME'"
        )
    return f"{module}:{name}"


def compare(
    fit: Callable[[Trial], Any] | str,
    *,
    metrics: Mapping[str, str] | Sequence[Mapping[str, Any]],
    target_modules: Sequence[str] | str,
    metric: str | None = None,
    config: str | Path | Mapping[str, Any] = "default",
    overrides: Mapping[str, Any] | None = None,
    storage: str | Storage = "sqlite:///lorasweep.db",
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    task: Mapping[str, Any] | None = None,
    verbose: bool = False,
) -> Results:
    """Compare the experiment's spaces (default: ``lr_only`` vs ``lora_alpha``) on ``fit``, the
    user's training function, and return the stored :class:`~lorasweep.results.Results`.

    - ``fit``: ``fit(trial)`` (see :class:`~lorasweep.train.user_code.Trial`), or ``"MODULE:NAME"``.
    - ``metrics``: what ``fit`` reports and which way is better: ``{"eval_accuracy": "maximize"}``
      or ``[{"name": ..., "direction": ...}]``. ``metric``: the one every study optimizes (default:
      the first).
    - ``target_modules``: the modules of your model that get LoRA (``trial.lora_config``).
    - ``config``: the rest of the experiment (spaces, ranks, budget, sampler, scheduler, seeds, ...):
      a built-in name, a YAML path or a mapping; its ``task`` is replaced. ``overrides``: dotted
      fields on top, as ``{"budget.trials": 4, "budget.max_steps": 100}``.
    - ``storage``: a database URL or a :class:`~lorasweep.store.Storage`; ``name``: the
      experiment's name (default: the function's name and the time).
    - ``params``: settings handed to ``fit`` as ``trial.params``; ``task``: more task fields
      (``peft_task_type``, ``modules_to_save``, ``lora_dropout``, ``name``).

    Bad input raises :class:`~lorasweep.errors.ConfigError` (one line) before Ray starts and
    before anything is written. A trial whose ``fit`` raises is recorded as failed with its error;
    the search goes on."""
    import datetime as dt

    from lorasweep.config import experiment_from_dict, find_file, read_yaml
    from lorasweep.errors import ConfigError
    from lorasweep.store import Storage

    entrypoint = fit if isinstance(fit, str) else entrypoint_of(fit)
    # a function of an importable module is imported by the workers (from its folder); one of
    # __main__ (a script, a notebook) travels by value
    fn = fit if not isinstance(fit, str) and entrypoint.startswith("__main__:") else None
    python_path = [str(Path.cwd())]
    if not isinstance(fit, str) and fn is None:
        python_path.insert(0, _module_root(fit.__module__))
    declared = (
        [{"name": k, "direction": v} for k, v in metrics.items()] if isinstance(metrics, Mapping) else list(metrics)
    )
    if not declared:
        raise ConfigError("compare(metrics=...): declare at least one metric, e.g. {'eval_accuracy': 'maximize'}")
    if isinstance(config, Mapping):
        source, data = "compare(config=...)", dict(config)
    else:
        path = find_file("experiment", config)
        source, data = str(path), read_yaml(path)
    data["task"] = {
        "kind": "python",
        "name": entrypoint.split(":")[-1],
        "entrypoint": entrypoint,
        "metrics": declared,
        "target_modules": target_modules if isinstance(target_modules, str) else list(target_modules),
        "params": dict(params or {}),
        "python_path": python_path,
        **dict(task or {}),
    }
    data.pop("model", None)  # the callable brings its own model
    data["metric"] = {**dict(data.get("metric") or {}), "name": metric or declared[0]["name"]}
    data["metric"].pop("direction", None)
    exp = experiment_from_dict(source, data, dict(overrides or {}))
    exp_name = name or exp.name or f"{entrypoint.split(':')[-1]}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if isinstance(storage, Storage):
        return _run(exp, storage, exp_name, fn, verbose)
    with Storage.open(storage, create=True) as st:
        return _run(exp, st, exp_name, fn, verbose)


def _module_root(module_name: str) -> str:
    """The folder to put on ``sys.path`` for ``import module_name`` (above its top-level package)."""
    import sys

    file = getattr(sys.modules.get(module_name), "__file__", None)
    if file is None:
        return str(Path.cwd())
    depth = len(module_name.split(".")) - (0 if Path(file).name == "__init__.py" else 1)
    return str(Path(file).resolve().parents[depth])


def _run(exp: Any, st: Storage, name: str, fn: Callable[..., Any] | None, verbose: bool) -> Results:
    from lorasweep.analysis.seeds import next_seed_look
    from lorasweep.report.optuna_dashboard import publish
    from lorasweep.results import load
    from lorasweep.search.ray_adapter.trainable import lorasweep_trainable
    from lorasweep.search.runner import preflight, run_plan
    from lorasweep.search.studies import compare_plan

    run = preflight(compare_plan(exp, name), st, verbose)  # every check before anything is written
    trainable = lorasweep_trainable if fn is None else _with_fn(fn)
    run_plan(run, st, verbose=verbose, trainable=trainable, publish=publish, next_seed_look=next_seed_look)
    return load(st, name)


def _with_fn(fn: Callable[..., Any]) -> Callable[..., None]:
    """The Tune function with the user's callable bound by value (Ray pickles it to the workers)."""
    from lorasweep.search.ray_adapter.trainable import lorasweep_trainable

    def trainable(config: dict[str, Any], **kwargs: Any) -> None:
        lorasweep_trainable(config, user_fn=fn, **kwargs)

    trainable.__name__ = trainable.__qualname__ = getattr(fn, "__name__", "fit")  # Ray names trials after it
    return trainable
