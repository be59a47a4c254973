#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md, in one go (about 6 minutes on one H100/H200-class GPU, plus
# the GPU-share compare at the end):
# trial throughput and MFU of a ~0.5B Qwen2-shaped causal LM with LoRA r=16 on all linear layers
# (packed rows; then 2 and 4 trials sharing the GPU), the same with torch.compile, and unpacked
# length-grouped batches. Logs and JSON go to $OUT (default ./gpu-results).
set -uo pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bench=benchmarks/trial_throughput.py
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$OUT/gpu.txt"
timeout 240 python3 $bench --preset qwen2-0.5b --packing --steps 100 --pairs 2 --share 2,4 --json "$OUT/packed.json" 2>&1 | tee "$OUT/packed.log"
timeout 150 python3 $bench --preset qwen2-0.5b --packing --steps 100 --pairs 1 --compile --json "$OUT/compile.json" 2>&1 | tee "$OUT/compile.log"
timeout 70 python3 $bench --preset qwen2-0.5b --steps 100 --pairs 1 --json "$OUT/grouped.json" 2>&1 | tee "$OUT/grouped.log"
# The SmolLM2 SFT compare under Ray with 1, 0.5 and 0.25 of the GPU per trial (needs '.[llm]'):
# trials/hour, peak memory per trial, GPU busy and MFU beside their ratio to the 1-GPU run. Its last
# two lines, "mfu: X %" and "gpu busy: Y %", are this script's last lines.
timeout 1800 python3 benchmarks/gpu_shares.py --out "$OUT/shares" 2>&1 | tee "$OUT/shares.log"
