"""Trial throughput: lorasweep's trial entry point vs a bare PEFT training loop, same work.

Both arms fine-tune the same causal LM (built from a config, random weights: throughput does not
depend on them) with the same LoRA (rank 16 on all linear layers), data, batches, steps, seed,
optimizer (AdamW, fused on CUDA), LR schedule, bf16 autocast on a capable GPU, and one final
evaluation (eval loss + 1 generated token per eval prompt). The lorasweep arm is
:func:`lorasweep.train.train.run_trial` (no Ray) with Signal-Drift diagnostics at their default
cadence (every 5 steps); the bare arm is the loop a user would write with PEFT. Each arm is timed
end to end (adapter set-up, training, evaluation, device synchronised), after one warm-up run of
each, alternating (ABAB…) so drift on a shared machine hits both.

FLOPs (for MFU, on a GPU). Per training token, with N = parameters of every frozen linear layer
(the LM head included, embeddings not) and N_lora = LoRA parameters:

    forward 2·N + 2·N_lora;  backward: input gradients 2·N + 2·N_lora, weight gradients 2·N_lora only
    (frozen weights get none)  →  4·N + 6·N_lora per token,
    plus attention 12·L·d_attn·n per token of a sequence of n tokens (QKᵀ and AV, forward + backward,
    no causal discount), summed over the examples (a packed row is several sequences).

Only real (non-padding) tokens count. MFU = achieved FLOP/s ÷ the device's dense bf16 peak
(H100/H200 SXM: 989 TFLOP/s by the datasheet; ``--peak-tflops`` for others).

    python benchmarks/trial_throughput.py                          # CPU: tiny Llama, ~2 min
    python benchmarks/trial_throughput.py --preset qwen2-0.5b      # GPU: ~0.5B Qwen2-shaped model
    python benchmarks/trial_throughput.py --preset qwen2-0.5b --share 2,4   # + trials sharing one GPU

The last line is the key figure: ``trial_throughput_ratio: X (target >= 0.97)``, lorasweep's
tokens/s over the bare loop's.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from peft import LoraConfig, TaskType, get_peft_model
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny tokenizer of the tests
from lorasweep.api import TrainBatch
from lorasweep.config import ExperimentConfig, experiment_from_dict
from lorasweep.kinds.causal_lm_sft import CausalLmWorkload
from lorasweep.scaling import LoraParams
from lorasweep.train.model import quiet_transformers
from lorasweep.train.train import lr_lambda, pick_device, run_trial

from causal_lm import build_tokenizer, tiny_config

#: Model shapes. qwen2-0.5b is Qwen2-0.5B's architecture (494M parameters, tied embeddings).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"config": tiny_config(0, hidden_size=64, intermediate_size=128), "seq": 128, "batch": 8, "steps": 30},
    "qwen2-0.5b": {
        "config": {
            "model_type": "qwen2",
            "vocab_size": 151936,
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "tie_word_embeddings": True,
            "rope_theta": 1000000.0,
        },
        "seq": 1024,
        "batch": 8,
        "steps": 60,
    },
}
PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}
RANK, ALPHA, LR = 16, 32.0, 2e-4


def make_files(folder: Path, n_train: int, n_eval: int, seq: int, seed: int) -> None:
    """A character-level tokenizer and random prompt/completion pairs of 1/3 to 1 × ``seq`` tokens."""
    build_tokenizer().save_pretrained(folder / "tokenizer")
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " .,"

    def row() -> dict[str, str]:
        total = rng.randint(seq // 3, seq - 2)
        cut = rng.randint(total // 4, total // 2)
        text = "".join(rng.choices(alphabet, k=total))
        return {"prompt": text[:cut], "completion": text[cut:]}

    for split, n in (("train", n_train), ("eval", n_eval)):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row()) + "\n" for _ in range(n)))


def experiment(folder: Path, preset: dict[str, Any], args: argparse.Namespace) -> ExperimentConfig:
    gpu = torch.cuda.is_available()
    config = dict(preset["config"])
    if args.layers:
        config["num_hidden_layers"] = args.layers
    raw = {
        "name": "throughput",
        "task": {
            "name": "random_text",
            "kind": "causal_lm_sft",
            "n_train": preset["batch"] * args.steps,
            "n_eval": preset["batch"],
            "max_length": preset["seq"],
            "max_new_tokens": 1,
            "chat_template": False,
            "packing": args.packing,
            "data": {
                "data_files": {"train": str(folder / "train.jsonl"), "eval": str(folder / "eval.jsonl")},
                "eval_split": "eval",
            },
        },
        "model": {
            "name_or_path": str(folder / "tokenizer"),
            "config": {k: v for k, v in config.items() if k != "vocab_size" or v},
            "target_modules": "all-linear",
            "dtype": "bfloat16" if gpu and torch.cuda.is_bf16_supported() else "float32",
        },
        "ranks": [RANK],
        "spaces": ["lr_only"],
        "budget": {"trials": 1, "max_steps": args.steps, "eval_every": args.steps},
        "scheduler": {"name": "fifo"},
        "training": {
            "batch_size": preset["batch"],
            "eval_batch_size": preset["batch"],
            "warmup_ratio": 0.1,
            "group_by_length": not args.packing,
            "compile": args.compile,
            "diagnostics_every": args.diagnostics_every,
        },
        "metric": {"name": "eval_loss"},
    }
    return experiment_from_dict("trial_throughput", raw)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# The two arms


def bare_loop(exp: ExperimentConfig, work: CausalLmWorkload, batches: list[TrainBatch], device: torch.device) -> None:
    """What a user writes with PEFT: LoRA on all linear layers, AdamW, warmup + linear decay,
    bf16 autocast, then eval loss and one generated token per eval prompt."""
    base = work.base_model(exp.model, exp.seed)
    torch.manual_seed(exp.seed)
    lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=RANK, lora_alpha=ALPHA, target_modules="all-linear")
    model = get_peft_model(base, lora).to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, fused=device.type == "cuda")
    warmup = int(exp.training.warmup_ratio * exp.budget.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(exp.training.lr_decay, warmup, exp.budget.max_steps)
    )
    forward = torch.compile(model) if exp.training.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for batch in batches:
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.inputs.items()}
        with autocast:
            loss = forward(**inputs).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        eval_batch = work.eval_set.rows.batch(torch.arange(len(work.eval_set.rows))).inputs
        with autocast:
            float(model(**{k: v.to(device) for k, v in eval_batch.items()}).loss)
        work.generate(model, exp.training.eval_batch_size, device, autocast)
    sync(device)


def lorasweep_trial(exp: ExperimentConfig, work: CausalLmWorkload, device: torch.device) -> dict[str, Any]:
    reports: list[Any] = []
    run_trial(exp, LoraParams(rank=RANK, alpha=ALPHA, lr=LR), seed=exp.seed, report=reports.append, workload=work)
    sync(device)
    return reports[-1].as_dict()


# ---------------------------------------------------------------------------------------------
# FLOPs


def sequence_lengths(batch: TrainBatch) -> list[int]:
    """Real tokens of each sequence in the batch (a packed row holds several)."""
    inputs = batch.inputs
    if "position_ids" not in inputs:
        return inputs["attention_mask"].sum(dim=1).tolist()
    out = []
    for pos in inputs["position_ids"]:
        starts = [*(pos == 0).nonzero().flatten().tolist(), len(pos)]
        out += [b - a for a, b in itertools.pairwise(starts) if b - a > 1]
    return out


def train_flops(base: nn.Module, lora_params: int, batches: list[TrainBatch]) -> float:
    """FLOPs of the training steps by the formula in the module doc."""
    cfg = base.config
    n_matmul = sum(m.weight.numel() for m in base.modules() if isinstance(m, nn.Linear))
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    d_attn = cfg.num_attention_heads * head_dim
    total = 0.0
    for batch in batches:
        lengths = sequence_lengths(batch)
        tokens = sum(lengths)
        total += (4 * n_matmul + 6 * lora_params) * tokens
        total += 12 * cfg.num_hidden_layers * d_attn * sum(n * n for n in lengths)
    return total


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given is not None:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


# ---------------------------------------------------------------------------------------------
# Sharing one GPU (fractional GPUs): N processes, each one trial, started together


def worker(args: argparse.Namespace, preset: dict[str, Any]) -> None:
    """One of N trials sharing the device: wait for the others, run, print tokens and times."""
    folder = Path(args.worker)
    exp = experiment(folder, preset, args)
    work = exp.task.prepare_workload(exp.model)
    work.base_model(exp.model, exp.seed)  # build the cached base before the clock starts
    barrier = folder / "barrier"
    (barrier / f"ready-{os.getpid()}").touch()
    while len(list(barrier.iterdir())) < args.share_n:
        time.sleep(0.01)
    start = time.time()
    last = lorasweep_trial(exp, work, pick_device("auto"))
    end = time.time()
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    print(json.dumps({"tokens": last["tokens"], "start": start, "end": end, "peak_gib": peak}), flush=True)


def shared(folder: Path, n: int, args: argparse.Namespace) -> dict[str, float]:
    barrier = folder / "barrier"
    barrier.mkdir(exist_ok=True)
    for f in barrier.iterdir():
        f.unlink()
    cmd = [sys.executable, __file__, "--worker", str(folder), "--share-n", str(n), *forwarded(args)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a shared-GPU worker failed (exit {p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "tokens_per_s": sum(r["tokens"] for r in results) / wall,
        "peak_gib": max(r["peak_gib"] for r in results),
    }


def forwarded(args: argparse.Namespace) -> list[str]:
    out = ["--preset", args.preset, "--steps", str(args.steps), "--diagnostics-every", str(args.diagnostics_every)]
    out += [f"--batch={args.batch or 0}", f"--seq={args.seq or 0}"]
    if args.layers:
        out += ["--layers", str(args.layers)]
    if args.packing:
        out.append("--packing")
    if args.compile:
        out.append("--compile")
    return out


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="default: qwen2-0.5b on a GPU")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default: the preset's)")
    parser.add_argument("--pairs", type=int, default=3, help="timed lorasweep/bare pairs after the warm-up")
    parser.add_argument("--layers", type=int, default=0, help="override the preset's layer count (smoke tests)")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch (default: the preset's)")
    parser.add_argument("--seq", type=int, default=None, help="max tokens per row (default: the preset's)")
    parser.add_argument("--packing", action="store_true", help="pack examples into full rows")
    parser.add_argument("--compile", action="store_true", help="torch.compile both arms")
    parser.add_argument("--diagnostics-every", type=int, default=5, help="lorasweep arm (0: off)")
    parser.add_argument("--share", default="", help="also run N trials sharing the device, e.g. 2,4")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--share-n", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.preset = args.preset or ("qwen2-0.5b" if torch.cuda.is_available() else "tiny")
    preset = dict(PRESETS[args.preset])
    preset["batch"] = args.batch or preset["batch"]
    preset["seq"] = args.seq or preset["seq"]
    args.steps = args.steps or preset["steps"]
    quiet_transformers()
    if args.worker:
        worker(args, preset)
        return

    device = pick_device("auto")
    folder = Path(tempfile.mkdtemp(prefix="lorasweep-throughput-"))
    make_files(folder, preset["batch"] * args.steps, preset["batch"], preset["seq"], seed=0)
    exp = experiment(folder, preset, args)
    work = exp.task.prepare_workload(exp.model)
    assert isinstance(work, CausalLmWorkload)
    stream = work.train_batches(exp.training.batch_size, exp.seed, exp.training.group_by_length)
    batches = [next(stream) for _ in range(args.steps)]  # the batches run_trial draws, in order
    base = work.base_model(exp.model, exp.seed)
    lora_count = sum(
        p.numel()
        for p in get_peft_model(
            copy.deepcopy(base), LoraConfig(task_type=TaskType.CAUSAL_LM, r=RANK, target_modules="all-linear")
        ).parameters()
        if p.requires_grad
    )
    flops = train_flops(base, lora_count, batches)
    tokens = sum(b.tokens for b in batches)
    params = sum(p.numel() for p in base.parameters())
    attn = getattr(base.config, "_attn_implementation", "?")
    del base
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{name}: {args.preset} ({params / 1e6:.0f}M params, {exp.model.dtype} base, attention {attn}), "
        f"LoRA r={RANK} all-linear ({lora_count / 1e6:.2f}M trainable), {args.steps} steps × "
        f"{preset['batch']} rows × ≤{preset['seq']} tokens{' packed' if args.packing else ''}, "
        f"{tokens} tokens, compile={args.compile}, diagnostics every {args.diagnostics_every}",
        flush=True,
    )

    times: dict[str, list[float]] = {"lorasweep": [], "bare": []}
    peak_mem = 0.0
    for i in range(args.pairs + 1):  # the first pair warms up (allocator, kernels, compile)
        for arm in ("lorasweep", "bare") if i % 2 == 0 else ("bare", "lorasweep"):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            sync(device)
            t0 = time.perf_counter()
            if arm == "bare":
                bare_loop(exp, work, batches, device)
            else:
                last = lorasweep_trial(exp, work, device)
                assert last["tokens"] == tokens, (last["tokens"], tokens)  # the same work in both arms
            seconds = time.perf_counter() - t0
            if device.type == "cuda":
                peak_mem = max(peak_mem, torch.cuda.max_memory_allocated() / 2**30)
            if i > 0:
                times[arm].append(seconds)
            print(f"  {'warm-up' if i == 0 else f'pair {i}'} {arm:<9} {seconds:7.2f} s", flush=True)

    figures: dict[str, Any] = {"preset": args.preset, "device": name, "tokens": tokens, "steps": args.steps}
    for arm, ts in times.items():
        t = statistics.median(ts)
        figures[arm] = {
            "seconds": t,
            "tokens_per_s": tokens / t,
            "examples_per_s": preset["batch"] * args.steps / t if not args.packing else None,
        }
        line = f"{arm:<9}: {tokens / t:10.0f} tokens/s, {sum(b.examples for b in batches) / t:8.1f} examples/s"
        peak = peak_tflops(device, args.peak_tflops)
        achieved = flops / t / 1e12
        line += f", {achieved:7.1f} TFLOP/s"
        if peak:
            figures[arm]["mfu"] = achieved / peak
            line += f", MFU {achieved / peak:.1%} of {peak:.0f}"
        print(line)
    ratio = figures["lorasweep"]["tokens_per_s"] / figures["bare"]["tokens_per_s"]
    spread = [b / a for a, b in zip(times["lorasweep"], times["bare"], strict=True)]
    figures["ratio"] = ratio
    if device.type == "cuda":
        figures["peak_memory_gib"] = peak_mem
        print(f"peak GPU memory: {peak_mem:.1f} GiB")
    for n in [int(x) for x in args.share.split(",") if x]:
        result = shared(folder, n, args)
        figures[f"shared_{n}"] = result
        vs = result["tokens_per_s"] / figures["lorasweep"]["tokens_per_s"]
        print(
            f"{n} trials sharing the device: {result['tokens_per_s']:.0f} tokens/s in total "
            f"({vs:.2f}× one trial), peak {result['peak_gib']:.1f} GiB per process",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(f"per-pair ratios: {', '.join(f'{r:.3f}' for r in spread)}")
    print(f"trial_throughput_ratio: {ratio:.3f} (target >= 0.97; lorasweep run_trial vs bare PEFT loop, tokens/s)")


if __name__ == "__main__":
    main()
