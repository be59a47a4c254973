"""``lorasweep export``: the best trial of a space as a deployable PEFT adapter, plus the YAML that
reproduces that trial exactly.

The adapter is the trial's best evaluation, kept as its Ray checkpoint (``ray.checkpoints``), in
PEFT's format: ``PeftModel.from_pretrained(base_model, DIR)`` loads it (for sequence
classification the new head is saved with it). Next to it:

- ``experiment.yaml``: the experiment's stored config, cut down to this space and rank;
- ``space.yaml``: the space;
- ``trial.yaml``: the trial's parameters, seed, LoRA numbers, value (on the eval split, which the
  search selected it on), the test split's values of the seed re-runs of the same parameters
  (examples the search never saw; how the split was made), and the ``lorasweep trial`` command
  that re-runs it.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from lorasweep.analysis.judged_on import tested_value
from lorasweep.analysis.summary import best_trial, summarize, trial_params
from lorasweep.config import ExperimentConfig
from lorasweep.errors import LorasweepError
from lorasweep.store import Storage, TrialRecord


@dataclass(frozen=True, kw_only=True)
class Exported:
    trial: TrialRecord
    out: Path
    command: str


def export_best(storage: Storage, experiment: str | None, space: str, out: Path) -> Exported:
    record = storage.experiment(experiment)
    summary = summarize(storage, record)
    if space not in summary.spaces:
        raise LorasweepError(
            f"--space {space}: experiment {record.name} has no such space; it has {', '.join(summary.spaces)}"
        )
    best = best_trial(summary.spaces[space].trials, summary.direction)
    if best is None:
        raise LorasweepError(f"--space {space}: no complete trial in experiment {record.name} to export")
    if not best.checkpoint or not Path(best.checkpoint).is_dir():
        raise LorasweepError(
            f"--space {space}: the best trial (Optuna #{best.optuna_number}) kept no adapter "
            f"({best.checkpoint or 'ray.checkpoints was off'}); re-run it with ray.checkpoints: true"
        )
    if out.exists() and any(out.iterdir()):
        raise LorasweepError(f"--out {out}: the folder exists and is not empty; give a new folder")
    shutil.copytree(best.checkpoint, out, dirs_exist_ok=True)

    study = next(s for s in storage.studies(record.id) if s.id == best.study_id)
    config = ExperimentConfig.model_validate(record.config).model_dump(mode="json")
    config.update(name=None, ranks=[best.r], spaces=[study.space_config], seeds={"n": 0, "top_k": 1})
    config.pop("warm_start", None)
    config.pop("ablation", None)
    (out / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (out / "space.yaml").write_text(yaml.safe_dump(study.space_config, sort_keys=False))
    command = shlex.join(
        [
            "lorasweep",
            "trial",
            "--config",
            str(out / "experiment.yaml"),
            "--space",
            str(out / "space.yaml"),
            "--rank",
            str(best.r),
            "--params",
            json.dumps(best.params, sort_keys=True),
            "--seed",
            str(best.seed),
        ]
    )
    reruns = [t for t in summary.seed_trials.get(space, []) if t.r == best.r and t.params == best.params]
    tested = [{"seed": t.seed, "test_value": tested_value(t)} for t in reruns]
    trial = {
        "experiment": record.name,
        "space": space,
        "optuna_study": study.optuna_study_name,
        "optuna_number": best.optuna_number,
        "params": best.params,
        "seed": best.seed,
        "lora": trial_params(best),
        "metric": summary.metric,
        "best_value": best.best_value,
        "final_value": best.final_value,
        "values_measured_on": "eval split (the search selected this trial on it)",
        "test": {
            "split": ExperimentConfig.model_validate(record.config).task.test_source(),
            "seed_reruns": tested,  # this config re-run on new seeds (compare --seeds), judged on the test split
        },
        "reproduce": command,
    }
    (out / "trial.yaml").write_text(yaml.safe_dump(trial, sort_keys=False))
    return Exported(trial=best, out=out, command=command)
