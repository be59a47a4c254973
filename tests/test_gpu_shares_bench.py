"""benchmarks/gpu_shares.py, the parts a CPU can check: its arguments, nvidia-smi's output parsed,
the figures read from a database, the FLOPs formula on a config-built model, the experiment each
share runs (validated by lorasweep's own loader), and the table from a recorded result.

The recorded result below is formatting input with round numbers, not a measurement: the GPU
figures come only from running the script on a GPU machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_shares
from gpu_shares import ShareResult

from lorasweep.config import experiment_from_dict


def test_shares_parse_and_refuse_what_cannot_be_packed() -> None:
    assert gpu_shares.parse_args([]).shares == [1.0, 0.5, 0.25]
    assert gpu_shares.shares("1, 0.5,0.25") == [1.0, 0.5, 0.25]
    assert gpu_shares.shares("1,0.2") == [1.0, 0.2]
    for bad, why in [
        ("0.5,1", "the first share must be 1"),
        ("1,0.3", "0.3 is not 1/k of a GPU"),
        ("1,2", "2 is not 1/k of a GPU"),
        ("1,0", "0 is not 1/k of a GPU"),
        ("1,half", "give numbers separated by commas"),
        ("1,0.5,0.5", "a share is given twice"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            gpu_shares.shares(bad)


def test_bad_counts_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        gpu_shares.parse_args(["--trials", "0"])
    assert e.value.code == 2 and "--trials must be at least 1" in capsys.readouterr().err


def test_nvidia_smi_samples_are_parsed() -> None:
    gpu = (
        "2026/12/05 15:00:00.250, 0, 87, 40211\n"
        "2026/12/05 15:00:00.750, 1, 50, 1000\n"
        "2026/12/05 15:00:01.250, 0, [N/A], 40211\n"  # a sample nvidia-smi could not take
        "garbage\n"
        "2026/12/05 15:00:01.750, 0, 93, 40300\n"
    )
    samples = gpu_shares.parse_gpu_samples(gpu)
    assert [(s.gpu, s.busy, s.memory_mib) for s in samples] == [(0, 0.87, 40211), (1, 0.5, 1000), (0, 0.93, 40300)]
    assert samples[2].t - samples[0].t == pytest.approx(1.5)
    t0 = samples[0].t
    # GPU 0's mean (0.90) and GPU 1's (0.50), averaged over the GPUs
    assert gpu_shares.busy_during(samples, t0, t0 + 2) == pytest.approx(0.70)
    assert gpu_shares.busy_during(samples, t0 + 1, t0 + 2) == pytest.approx(0.93)
    assert gpu_shares.busy_during(samples, t0 + 10, t0 + 20) is None
    apps = "4242, 3120\n4243, 2900\n4242, 3500\n[N/A], 10\n4243, [N/A]\n"
    assert gpu_shares.parse_process_peaks(apps) == {4242: 3500.0, 4243: 2900.0}


def test_flops_per_token_counts_frozen_linear_and_lora_weights() -> None:
    from transformers import LlamaConfig

    cfg = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=100,
        tie_word_embeddings=False,
    )
    # per layer: q 64·64, k 64·32, v 64·32, o 64·64, gate/up 64·128 each, down 128·64; LM head 100·64
    n = 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192) + 6400
    lora = 2 * (8 * (64 + 64) + 8 * (64 + 32))  # r=8 on q_proj and v_proj
    assert gpu_shares.flops_per_token(cfg, ["q_proj", "v_proj"], 8) == 4 * n + 6 * lora
    every = 2 * 8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 2 * (64 + 128) + (128 + 64))
    assert gpu_shares.flops_per_token(cfg, "all-linear", 8) == 4 * n + 6 * every  # the LM head not adapted


@pytest.mark.parametrize(("share", "at_once"), [(1.0, 2), (0.5, 4), (0.25, 8)])
def test_each_share_runs_a_valid_experiment_with_as_many_trials_at_once_as_fit(
    tmp_path: Path, share: float, at_once: int
) -> None:
    args = gpu_shares.parse_args(["--trials", "3", "--max-steps", "12", "--model", "HuggingFaceTB/SmolLM2-135M"])
    base = yaml.safe_load(gpu_shares.EXPERIMENT.read_text())
    doc = gpu_shares.share_config(base, share, gpus=2, args=args)
    exp = experiment_from_dict(str(tmp_path / "share.yaml"), doc)
    assert exp.resources.gpus_per_trial == share and exp.max_concurrent_trials == at_once
    assert (exp.budget.trials, exp.budget.max_steps) == (3, 12)
    assert exp.model.name_or_path == "HuggingFaceTB/SmolLM2-135M"
    assert [sp.name for sp in exp.spaces] == base["spaces"] and exp.ranks == base[
        "ranks"
    ]  # the compare itself unchanged
    assert base["resources"]["gpus_per_trial"] == 0  # the packaged experiment left as it is


def test_search_figures_come_from_the_stored_trials(tmp_path: Path) -> None:
    from lorasweep.config import Direction, load_experiment
    from lorasweep.store import Storage, TrialFinish, TrialStart, TrialState

    from conftest import TINY
    from factories import lora_params

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Storage.open(url, create=True) as st:
        st.upgrade()
        record = st.create_experiment("share-0_5", "", load_experiment(TINY).model_dump(mode="json"))
        study = st.add_study(
            record.id,
            space="lr_only",
            rank=4,
            optuna_study_name="share-0_5/lr_only/r4",
            metric="accuracy",
            direction=Direction.MAXIMIZE,
            space_config={},
        ).id
        for number, state, tokens in ((0, TrialState.COMPLETE, 1000), (1, TrialState.PRUNED, 400)):
            trial = st.start_trial(
                TrialStart(
                    study_id=study,
                    ray_trial_id=f"t{number}",
                    optuna_number=number,
                    params={},
                    lora=lora_params(),
                    seed=0,
                )
            )
            finish = TrialFinish(
                state=state,
                final_value=0.5,
                best_value=0.5,
                steps=10,
                diverged_step=None,
                error=None,
                device_seconds=1.0,
                wall_seconds=1.0,
                examples=10,
                tokens=tokens,
                reports=(),
            )
            st.finish_trial(trial, finish)
        st.start_trial(  # still running: not counted
            TrialStart(study_id=study, ray_trial_id="t2", optuna_number=2, params={}, lora=lora_params(), seed=0)
        )
        trials = st.trials(record.id)
    count, wall, tokens, start, end = gpu_shares.search_figures(url, "share-0_5")
    assert (count, tokens) == (2, 1400)
    finished = [t for t in trials if t.finished_at is not None]
    assert start == min(t.started_at for t in finished).timestamp()
    assert end == max(t.finished_at for t in finished).timestamp() and wall == pytest.approx(end - start)


#: Formatting input (round numbers, not measured): 16 trials per share.
RECORDED = [
    ShareResult(share=1.0, trials=16, wall_seconds=3600, tokens=10**7, peak_memory_mib=4000, gpu_busy=0.40, mfu=0.06),
    ShareResult(share=0.5, trials=16, wall_seconds=1800, tokens=10**7, peak_memory_mib=4200, gpu_busy=0.70, mfu=0.12),
    ShareResult(share=0.25, trials=16, wall_seconds=1440, tokens=10**7, peak_memory_mib=4400, gpu_busy=0.96, mfu=0.15),
]


def test_the_table_shows_each_figure_beside_its_ratio_to_one_gpu() -> None:
    lines = gpu_shares.render(RECORDED, "1 × NVIDIA H100 80GB HBM3")
    assert lines[0] == (
        "On 1 × NVIDIA H100 80GB HBM3, 0.25 of a GPU per trial ran the most trials per hour: 40 against 16 "
        "with a whole GPU each (×2.50)."
    )
    rows = {line.split()[0]: line.split() for line in lines if line[:1].isdigit()}
    assert rows["1"] == ["1", "16", "×1.00", "4000", "×1.00", "40.0%", "×1.00", "6.0%", "×1.00"]
    assert rows["0.5"] == ["0.5", "32", "×2.00", "4200", "×1.05", "70.0%", "×1.75", "12.0%", "×2.00"]
    assert rows["0.25"] == ["0.25", "40", "×2.50", "4400", "×1.10", "96.0%", "×2.40", "15.0%", "×2.50"]
    assert lines[-2:] == ["mfu: 15.0 %", "gpu busy: 96.0 %"]


def test_missing_figures_are_shown_as_missing() -> None:
    results = [
        ShareResult(share=1.0, trials=4, wall_seconds=600, tokens=1, peak_memory_mib=None, gpu_busy=None, mfu=None),
        ShareResult(share=0.5, trials=4, wall_seconds=300, tokens=1, peak_memory_mib=900, gpu_busy=0.5, mfu=None),
    ]
    lines = gpu_shares.render(results, "1 × GPU")
    assert lines[-2:] == ["mfu: n/a (peak TFLOP/s unknown: give --peak-tflops)", "gpu busy: 50.0 %"]
    row = next(line for line in lines if line.startswith("0.5"))
    assert "900 —" in row and "50.0% —" in row
    with pytest.raises(ValueError, match="1-GPU baseline"):
        gpu_shares.render(results[1:], "1 × GPU")


def test_render_prints_a_recorded_result_without_a_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import asdict

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"device": "1 × H100", "results": [asdict(r) for r in RECORDED]}))
    gpu_shares.main(["--render", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert out == gpu_shares.render(RECORDED, "1 × H100")
