"""Running the user's training code: importing its entrypoint (:func:`load_entrypoint`), its
errors as one line at the user's frame (:func:`user_error`), and one trial of it
(:func:`make_trial`, :func:`run_user_trial`). What the callable gets and what its reports do is
:mod:`lorasweep.train.user_code`'s.

No Ray here: the Ray adapter passes a ``send`` that forwards each report to Tune and turns Tune's
stop into :class:`~lorasweep.train.user_code.TrialPruned`. Heavy imports (torch, peft) happen
when a trial runs.
"""

from __future__ import annotations

import functools
import importlib
import random
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorasweep.errors import ConfigError
from lorasweep.train.divergence import DivergenceRule
from lorasweep.train.user_code import Reporter, Trial, TrialPruned, TrialStopped

if TYPE_CHECKING:
    from lorasweep.config import ExperimentConfig
    from lorasweep.scaling import LoraParams
    from lorasweep.train.train import StepReport

__all__ = [
    "UserCode",
    "UserCodeError",
    "load_entrypoint",
    "make_trial",
    "run_user_trial",
]


class UserCodeError(Exception):
    """An exception raised inside the user's callable, as one line: ``Type: message (file:line in
    function)`` at the user's innermost frame. The trial is recorded as failed with this text."""

    #: the trial's recorded error is this exception's text as it is (no type prefix)
    records_as_is = True


@dataclass(frozen=True, kw_only=True)
class UserCode:
    """A ``kind: python`` task's callable, imported."""

    fn: Callable[[Trial], Any]
    entrypoint: str


# ---------------------------------------------------------------------------------------------
# Importing the entrypoint


def load_entrypoint(entrypoint: str, python_path: Sequence[str] = ()) -> Callable[[Trial], Any]:
    """The callable ``MODULE:ATTR`` names, imported with ``python_path``'s folders on ``sys.path``
    (the ones that exist). Anything that stops it is a one-line :class:`ConfigError`."""
    for folder in reversed(python_path):
        if Path(folder).is_dir() and folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, attr = entrypoint.partition(":")
    where = f"task.entrypoint '{entrypoint}'"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            folders = ", ".join(python_path) or "sys.path"
            raise ConfigError(
                f"{where}: no module named '{e.name}' in {folders}; set task.python_path to the folder that holds "
                "it (or run from that folder)"
            ) from None
        raise ConfigError(f"{where}: importing {module_name} failed: {_one_line(e)}; fix the import") from None
    except Exception as e:  # the module itself raised while importing
        raise ConfigError(f"{where}: importing {module_name} failed: {_one_line(e)}; fix the module") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: module {module_name} has no attribute '{part}'; name a callable it defines")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{where}: {attr} is a {type(obj).__name__}, not a callable; name a function fit(trial)")
    return obj


@functools.lru_cache(maxsize=4)
def cached_entrypoint(entrypoint: str, python_path: tuple[str, ...]) -> Callable[[Trial], Any]:
    """:func:`load_entrypoint`, once per worker process."""
    return load_entrypoint(entrypoint, python_path)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(str(Path(__file__).resolve().parents[1]))  # lorasweep itself
    return tuple(sorted(dirs))


def user_error(e: BaseException) -> UserCodeError:
    """``e`` as the trial's error: its type and message, and the innermost frame of the user's code
    (not the standard library, an installed package or lorasweep), once."""
    frames = traceback.extract_tb(e.__traceback__)
    libraries = _library_dirs()
    own = [f for f in frames if not str(Path(f.filename).resolve()).startswith(libraries)]
    frame = (own or frames or [None])[-1]
    at = f" ({frame.filename}:{frame.lineno} in {frame.name})" if frame is not None else ""
    return UserCodeError(f"{_one_line(e)}{at}"[:2000])


# ---------------------------------------------------------------------------------------------
# One trial


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy (when installed) and torch (every device)."""
    import torch

    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for the user's code
        pass
    torch.manual_seed(seed)


def make_trial(
    exp: ExperimentConfig,
    lora: LoraParams,
    seed: int,
    *,
    space: str,
    number: int | None,
    send: Callable[[StepReport, str | None], None],
    evaluate_test: bool = False,
) -> Trial:
    """The :class:`Trial` a ``kind: python`` experiment hands its callable (``evaluate_test``: a
    seed re-run or an ablation point, asked for its test metrics)."""
    from peft import LoraConfig

    from lorasweep.train.train import pick_device

    task = exp.task
    device = pick_device(exp.training.device)
    cfg = exp.training
    reporter = Reporter(
        send=send,
        metric=exp.metric.name,
        direction=exp.metric.resolved_direction,
        declared=task.metric_names,
        max_steps=exp.budget.max_steps,
        lr=lora.lr,
        rule=DivergenceRule(step_factor=cfg.divergence_factor, window_factor=cfg.divergence_window_factor),
        gpus=exp.resources.gpus_per_trial if device.type == "cuda" else 0.0,
        checkpoints=exp.ray.checkpoints,
    )
    reporter.evaluate_test = evaluate_test
    lora_config = LoraConfig(
        task_type=getattr(task, "peft_task_type", None),
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=getattr(task, "lora_dropout", 0.0),
        target_modules=getattr(task, "target_modules", None),
        use_rslora=lora.use_rslora,
        modules_to_save=getattr(task, "modules_to_save", None),
    )
    return Trial(
        number=number,
        space=space,
        rank=lora.rank,
        alpha=lora.alpha,
        use_rslora=lora.use_rslora,
        lr=lora.lr,
        loraplus_lr_ratio=lora.loraplus_lr_ratio,
        scaling=lora.scaling,
        effective_step=lora.effective_step,
        seed=seed,
        max_steps=exp.budget.max_steps,
        eval_every=exp.budget.eval_every,
        batch_size=cfg.batch_size,
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        head_lr=cfg.head_lr,
        device=device.type,
        evaluate_test=evaluate_test,
        lora_config=lora_config,
        params=dict(getattr(task, "params", {})),
        _reporter=reporter,
    )


def run_user_trial(fn: Callable[[Trial], Any], trial: Trial) -> bool:
    """Call the user's ``fn`` with ``trial`` (seeded first). Return whether Tune ended the trial's
    thread at one of its reports (the Tune function must then exit, see the Ray adapter). An
    exception of the user's code is raised again as one :class:`UserCodeError`."""
    seed_everything(trial.seed)
    reporter = trial._reporter
    try:
        returned = fn(trial)
    except TrialStopped as e:
        if reporter.stopped is None:  # raised by the callable itself, as Optuna's objective may
            reporter.stopped = e
        return reporter.tune_stopped
    except Exception as e:
        raise user_error(e) from None
    try:
        reporter.finish(returned)
    except TrialPruned:  # Tune ended the trial at its last report (ASHA stops trials at max_t): complete
        pass
    except RuntimeError as e:
        raise UserCodeError(f"{fn.__module__}:{getattr(fn, '__qualname__', fn)}: {e}") from None
    return reporter.tune_stopped
