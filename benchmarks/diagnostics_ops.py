"""Host work of the Signal-Drift diagnostics, counted in dispatched PyTorch ops (device-independent).

On a GPU a LoRA trial of a small model is bound by the host launching kernels (see RESULTS.md),
so what the diagnostics cost there is roughly their share of dispatched ops. This builds a
Qwen2-shaped model with 24 layers (narrow, so it runs on a CPU in seconds) with LoRA r=16 on all
linear layers (168 modules), and counts the top-level ``aten::`` ops of one measured step
(``before_step`` + ``after_step``) and of one training step (forward, backward, AdamW).

    python benchmarks/diagnostics_ops.py [--layers 24] [--every 5]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from peft import LoraConfig, get_peft_model
from torch.profiler import ProfilerActivity, profile
from transformers import AutoConfig, AutoModelForCausalLM

from lorasweep.train.diagnostics import LoraDiagnostics
from lorasweep.train.model import quiet_transformers


def top_level_ops(fn: object) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()  # type: ignore[operator]
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--every", type=int, default=5, help="diagnostics cadence (training.diagnostics_every)")
    args = parser.parse_args()
    quiet_transformers()
    cfg = AutoConfig.for_model(
        "qwen2",
        vocab_size=200,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_config(cfg), LoraConfig(r=16, target_modules="all-linear"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randint(0, 200, (2, 32))
    diag = LoraDiagnostics(model)

    def train_step() -> None:
        model(input_ids=x, labels=x).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def measured() -> None:
        diag.before_step()
        diag.after_step()

    train_step()  # warm up lazy state (AdamW buffers)
    step_ops, diag_ops = top_level_ops(train_step), top_level_ops(measured)
    share = diag_ops / args.every / step_ops
    print(f"{len(diag.module_names)} LoRA modules, {args.layers} layers")
    print(f"training step (forward + backward + AdamW): {step_ops} ops")
    print(f"one measured step (before_step + after_step): {diag_ops} ops")
    print(f"diagnostics_ops_share: {share:.1%} (of a training step's ops at cadence {args.every}; target <= 3 %)")


if __name__ == "__main__":
    main()
