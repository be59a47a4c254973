"""GPU shares: the SmolLM2 SFT compare with 1, 0.5 and 0.25 of a GPU per trial, on one GPU machine.

For each share, one ``lorasweep compare`` of ``lorasweep/experiments/smollm2_sft.yaml`` (both spaces,
the same trials, steps and seed; ``resources.gpus_per_trial`` = the share, as many trials at once
as the shares allow) into a database of its own, while ``nvidia-smi`` is sampled every
``--sample-ms``. Then, per share:

- trials/hour: finished search trials ÷ the search's wall time (first trial start to last end);
- peak memory per trial: the largest memory any one trial process held (nvidia-smi's per-process
  ``used_memory``; a Ray trial process runs one trial at a time, CUDA context included);
- GPU busy: the mean of nvidia-smi's ``utilization.gpu`` (the share of each sample window in
  which a kernel ran) over the search, averaged over the GPUs;
- MFU: training FLOPs ÷ wall time ÷ the GPU's dense bf16 peak. FLOPs per trained token are
  4·N + 6·N_lora (N: the frozen linear layers' weights, the LM head included; N_lora: the LoRA
  weights; forward 2·(N + N_lora), input gradients 2·(N + N_lora), weight gradients 2·N_lora), from
  the model's config; attention's own FLOPs are left out, so MFU is a lower bound.

Every figure is also shown as a ratio against the 1-GPU run of the same invocation (the first
share must be 1). The last two lines are ``mfu: X %`` and ``gpu busy: Y %`` of the share with the
most trials/hour. Nothing here runs without a GPU except the parts the CPU tests check
(arguments, nvidia-smi parsing, the figures from a database, the table from a recorded result).

    python benchmarks/gpu_shares.py                         # shares 1, 0.5, 0.25; ~10 min on an H100
    python benchmarks/gpu_shares.py --shares 1,0.5 --trials 4 --max-steps 40 --out gpu-shares
    python benchmarks/gpu_shares.py --render gpu-shares/result.json   # the table again, no GPU needed
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "lorasweep" / "experiments" / "smollm2_sft.yaml"
#: Dense bf16 peaks by the datasheets (SXM parts), TFLOP/s; --peak-tflops for others.
PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "A10G": 70.0}


# -- arguments ---------------------------------------------------------------------------------


def shares(text: str) -> list[float]:
    """``"1,0.5,0.25"`` → [1.0, 0.5, 0.25]: the baseline 1 first, then fractions that pack a
    whole number of trials on a GPU (1/share an integer), no share twice."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--shares {text!r}: give numbers separated by commas, e.g. 1,0.5,0.25"
        ) from None
    if not values or values[0] != 1:
        raise argparse.ArgumentTypeError(f"--shares {text!r}: the first share must be 1 (the baseline the ratios use)")
    for v in values:
        if not 0 < v <= 1 or abs(1 / v - round(1 / v)) > 1e-9:
            raise argparse.ArgumentTypeError(
                f"--shares {text!r}: {v:g} is not 1/k of a GPU (k = 1, 2, 3, ...); use e.g. 1,0.5,0.25"
            )
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--shares {text!r}: a share is given twice")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shares", type=shares, default=shares("1,0.5,0.25"), help="GPU per trial, 1 first")
    p.add_argument(
        "--config",
        type=Path,
        default=EXPERIMENT,
        help="experiment YAML (default: smollm2_sft); its task and model by name or absolute path",
    )
    p.add_argument("--model", default=None, help="model.name_or_path instead of the config's (e.g. a hub id)")
    p.add_argument("--trials", type=int, default=8, help="trials per space (default 8: 16 per share)")
    p.add_argument("--max-steps", type=int, default=30, help="steps per trial")
    p.add_argument("--gpus", type=int, default=None, help="GPUs to use (default: every GPU nvidia-smi lists)")
    p.add_argument("--sample-ms", type=int, default=500, help="nvidia-smi sampling period")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: by name)")
    p.add_argument("--out", type=Path, default=Path("gpu-shares"), help="databases, logs, samples, result.json")
    p.add_argument("--render", type=Path, default=None, help="print the table of a result.json and stop")
    args = p.parse_args(argv)
    for name in ("trials", "max_steps", "sample_ms"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# -- nvidia-smi ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GpuSample:
    t: float  # seconds since the epoch
    gpu: int
    busy: float  # utilization.gpu, 0..1
    memory_mib: float


def parse_gpu_samples(text: str) -> list[GpuSample]:
    """Lines of ``nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used
    --format=csv,noheader,nounits`` (e.g. ``2026/12/05 15:00:00.123, 0, 87, 40211``)."""
    out = []
    for line in text.splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        try:
            stamp = time.mktime(time.strptime(parts[0].split(".")[0], "%Y/%m/%d %H:%M:%S"))
            frac = float("0." + parts[0].split(".")[1]) if "." in parts[0] else 0.0
            out.append(
                GpuSample(t=stamp + frac, gpu=int(parts[1]), busy=float(parts[2]) / 100, memory_mib=float(parts[3]))
            )
        except ValueError:  # "[N/A]", "[Not Supported]"
            continue
    return out


def parse_process_peaks(text: str) -> dict[int, float]:
    """The largest ``used_memory`` (MiB) of each process, from lines of ``nvidia-smi
    --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`` (e.g. ``4242, 3120``)."""
    peaks: dict[int, float] = {}
    for line in text.splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            with contextlib.suppress(ValueError):
                peaks[int(parts[0])] = max(peaks.get(int(parts[0]), 0.0), float(parts[1]))
    return peaks


def busy_during(samples: list[GpuSample], start: float, end: float) -> float | None:
    """The mean utilization over [start, end], each GPU's mean first, then the mean over GPUs."""
    per_gpu: dict[int, list[float]] = {}
    for s in samples:
        if start <= s.t <= end:
            per_gpu.setdefault(s.gpu, []).append(s.busy)
    if not per_gpu:
        return None
    return sum(sum(v) / len(v) for v in per_gpu.values()) / len(per_gpu)


@contextlib.contextmanager
def sampling(folder: Path, period_ms: int) -> Iterator[tuple[Path, Path]]:
    """nvidia-smi writing GPU and per-process samples into ``folder`` while the block runs."""
    gpu, apps = folder / "gpu-samples.csv", folder / "process-samples.csv"
    queries = [
        (gpu, "--query-gpu=timestamp,index,utilization.gpu,memory.used"),
        (apps, "--query-compute-apps=pid,used_memory"),
    ]
    procs = [
        subprocess.Popen(
            ["nvidia-smi", q, "--format=csv,noheader,nounits", f"-lms={period_ms}"],
            stdout=path.open("w"),
            stderr=subprocess.DEVNULL,
        )
        for path, q in queries
    ]
    try:
        yield gpu, apps
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


# -- one share ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ShareResult:
    share: float
    trials: int  # search trials that finished (complete, pruned, diverged or failed)
    wall_seconds: float  # first trial start to last trial end
    tokens: int  # trained tokens, every trial
    peak_memory_mib: float | None  # the largest any one trial process held
    gpu_busy: float | None  # 0..1
    mfu: float | None  # 0..1, lower bound (no attention FLOPs)

    @property
    def trials_per_hour(self) -> float:
        return self.trials / self.wall_seconds * 3600 if self.wall_seconds > 0 else math.nan


def search_figures(url: str, name: str) -> tuple[int, float, int, float, float]:
    """From the experiment's stored search trials: (finished trials, search wall seconds, trained
    tokens, first start, last end as epoch seconds)."""
    from lorasweep.store import Storage, TrialKind, TrialState

    with Storage.open(url, readonly=True) as st:
        trials = [
            t
            for t in st.trials(st.experiment(name).id)
            if t.kind == TrialKind.SEARCH and t.state != TrialState.RUNNING and t.finished_at is not None
        ]
    if not trials:
        raise SystemExit(f"{url}: experiment {name} has no finished search trial")
    start = min(t.started_at for t in trials).timestamp()
    end = max(t.finished_at for t in trials if t.finished_at is not None).timestamp()
    return len(trials), end - start, sum(t.tokens for t in trials), start, end


def flops_per_token(model_config: Any, target_modules: Sequence[str] | str, rank: int) -> float:
    """4·N + 6·N_lora for a causal LM built from ``model_config`` (on the meta device: no memory).
    ``target_modules``: module names, or ``"all-linear"`` (every linear layer but the LM head, as PEFT)."""
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
    head = model.get_output_embeddings()
    n = n_lora = 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        n += module.weight.numel()
        short = name.rsplit(".", 1)[-1]
        adapted = module is not head if target_modules == "all-linear" else short in target_modules
        if adapted:
            n_lora += rank * (module.in_features + module.out_features)
    return 4.0 * n + 6.0 * n_lora


def share_config(base: dict[str, Any], share: float, gpus: int, args: argparse.Namespace) -> dict[str, Any]:
    """The experiment for one share: as many trials at once as the shares allow on ``gpus`` GPUs."""
    doc = json.loads(json.dumps(base))
    per_gpu = round(1 / share)
    doc.setdefault("resources", {}).update(gpus_per_trial=share, cpus_per_trial=1)
    doc["max_concurrent_trials"] = per_gpu * gpus
    doc.setdefault("budget", {}).update(trials=args.trials, max_steps=args.max_steps)
    if args.model:
        doc.setdefault("model", {})["name_or_path"] = args.model
    return doc


def run_share(
    share: float, base: dict[str, Any], gpus: int, peak: float | None, args: argparse.Namespace
) -> ShareResult:
    folder = args.out / f"share-{share:g}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "experiment.yaml"
    config.write_text(yaml.safe_dump(share_config(base, share, gpus, args)))
    db = folder / "runs.db"
    db.unlink(missing_ok=True)
    url, name = f"sqlite:///{db}", f"share-{share:g}".replace(".", "_")
    cmd = [sys.executable, "-m", "lorasweep", "compare", "--config", str(config), "--storage", url, "--name", name]
    print(f"share {share:g}: {' '.join(cmd)}", flush=True)
    with sampling(folder, args.sample_ms) as (gpu_file, apps_file), (folder / "compare.log").open("w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = (folder / "compare.log").read_text().splitlines()[-5:]
        raise SystemExit(f"share {share:g}: compare exited {done.returncode}: " + " | ".join(tail))
    trials, wall, tokens, start, end = search_figures(url, name)
    samples = parse_gpu_samples(gpu_file.read_text())
    peaks = parse_process_peaks(apps_file.read_text())
    mfu = None
    if peak:
        from transformers import AutoConfig

        from lorasweep.config import load_experiment
        from lorasweep.train.packaged import resolve_model

        exp = load_experiment(config)
        source = resolve_model(exp.model.name_or_path)
        model_config = AutoConfig.from_pretrained(source.path, **source.kwargs())
        per_token = flops_per_token(model_config, exp.model.target_modules, max(exp.ranks))
        mfu = per_token * tokens / wall / (peak * 1e12 * gpus)
    return ShareResult(
        share=share,
        trials=trials,
        wall_seconds=wall,
        tokens=tokens,
        peak_memory_mib=max(peaks.values()) if peaks else None,
        gpu_busy=busy_during(samples, start, end),
        mfu=mfu,
    )


# -- the table -----------------------------------------------------------------------------------


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0 or math.isnan(value) or math.isnan(base):
        return "—"
    return f"×{value / base:.2f}"


def render(results: Sequence[ShareResult], device: str) -> list[str]:
    """The figures per share beside their ratio to the 1-GPU run; first a sentence, last the
    ``mfu:`` and ``gpu busy:`` lines of the share with the most trials/hour."""
    base = results[0]
    if base.share != 1:
        raise ValueError("the first result must be the 1-GPU baseline")
    best = max(results, key=lambda r: r.trials_per_hour)
    lines = [
        f"On {device}, {best.share:g} of a GPU per trial ran the most trials per hour: "
        f"{best.trials_per_hour:.0f} against {base.trials_per_hour:.0f} with a whole GPU each "
        f"({_ratio(best.trials_per_hour, base.trials_per_hour)}).",
        "",
        f"{'GPU per trial':<14}{'trials/hour':>16}{'peak MiB/trial':>20}{'GPU busy':>16}{'MFU':>16}",
    ]

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.1%}"

    def mib(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f}"

    for r in results:
        lines.append(
            f"{r.share:<14g}"
            f"{f'{r.trials_per_hour:.0f} {_ratio(r.trials_per_hour, base.trials_per_hour)}':>16}"
            f"{f'{mib(r.peak_memory_mib)} {_ratio(r.peak_memory_mib, base.peak_memory_mib)}':>20}"
            f"{f'{pct(r.gpu_busy)} {_ratio(r.gpu_busy, base.gpu_busy)}':>16}"
            f"{f'{pct(r.mfu)} {_ratio(r.mfu, base.mfu)}':>16}"
        )
    lines += [
        "",
        "Ratios are against the 1-GPU run of this invocation; MFU leaves attention's FLOPs out (a lower bound).",
        "mfu: " + ("n/a (peak TFLOP/s unknown: give --peak-tflops)" if best.mfu is None else f"{best.mfu * 100:.1f} %"),
        "gpu busy: " + ("n/a" if best.gpu_busy is None else f"{best.gpu_busy * 100:.1f} %"),
    ]
    return lines


# -- main ------------------------------------------------------------------------------------


def gpu_names() -> list[str]:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit("nvidia-smi failed: this benchmark needs NVIDIA GPUs (--render prints a recorded result)")
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render is not None:
        doc = json.loads(args.render.read_text())
        print("\n".join(render([ShareResult(**r) for r in doc["results"]], doc["device"])))
        return
    names = gpu_names()
    gpus = min(args.gpus or len(names), len(names))
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in names[0]), None)
    device = f"{gpus} × {names[0]}"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(gpus))
    base = yaml.safe_load(args.config.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    results = [run_share(s, base, gpus, peak, args) for s in args.shares]
    (args.out / "result.json").write_text(
        json.dumps({"device": device, "results": [asdict(r) for r in results]}, indent=2)
    )
    print("\n".join(render(results, device)))


if __name__ == "__main__":
    main()
