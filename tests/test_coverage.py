"""Equal coverage is part of equal budget: each space's searched s·LR per rank, and the warnings
that say when a comparison is decided by the ranges rather than by the methods (no Ray)."""

from __future__ import annotations

import pytest

from lorasweep.analysis.coverage import coverage_warnings, coverages
from lorasweep.report.json_report import to_json
from lorasweep.space.resolve import load_space

from factories import config, summary, trial

LR_ONLY, LORA_ALPHA = 1, 2  # study ids


def _codes(doc: dict) -> list[str]:
    return [w["code"] for w in doc["warnings"]]


def _trials(lr_only_best_lr: float, lora_alpha_best_c: float) -> dict[str, list]:
    """r = 4: lr_only (α = 8) and lora_alpha (LR 2e-5, α = 2c) with one best and one worse trial each."""
    return {
        "lr_only": [trial(LR_ONLY, 4, 8.0, lr_only_best_lr, 0.95), trial(LR_ONLY, 4, 8.0, 1e-5, 0.6)],
        "lora_alpha": [trial(LORA_ALPHA, 4, 2 * lora_alpha_best_c, 2e-5, 0.9), trial(LORA_ALPHA, 4, 2.0, 2e-5, 0.55)],
    }


def test_matched_spaces_cover_the_same_steps_and_raise_no_warning() -> None:
    s = summary(config(), _trials(lr_only_best_lr=1e-3, lora_alpha_best_c=200.0))  # s·LR 2e-3 both
    doc = to_json(s)
    assert doc["spaces"]["lr_only"]["coverage"] == {"4": [pytest.approx(2e-6), pytest.approx(2e-2)]}
    assert doc["spaces"]["lora_alpha"]["coverage"] == {"4": [pytest.approx(2e-6), pytest.approx(2e-2)]}
    assert not [c for c in _codes(doc) if c in ("unequal_coverage", "decided_by_ranges", "best_at_edge")]
    cov = coverages(s)
    assert cov["lr_only"].best_step[4] == pytest.approx(2e-3) and cov["lora_alpha"].best_step[4] == pytest.approx(2e-3)


def test_an_explicit_narrower_space_is_flagged_and_a_best_beyond_it_is_range_decided() -> None:
    narrow = {"use": "lora_alpha", "alpha": {"rule": "sqrt_rank", "c": {"low": 1.0, "high": 1024.0}}}
    cfg = config({"spaces": ["lr_only", narrow]})
    # lr_only's best at LR 6e-3: s·LR = 2 · 6e-3 = 1.2e-2, beyond lora_alpha's reach (c ≤ 1024: s·LR ≤ 1.02e-2)
    doc = to_json(summary(cfg, _trials(lr_only_best_lr=6e-3, lora_alpha_best_c=100.0)))
    assert doc["spaces"]["lora_alpha"]["coverage"]["4"] == [pytest.approx(1e-5), pytest.approx(1.024e-2)]
    codes = _codes(doc)
    assert "unequal_coverage" in codes and "decided_by_ranges" in codes
    decided = next(w["message"] for w in doc["warnings"] if w["code"] == "decided_by_ranges")
    assert "lr_only's best (s·LR 1.2e-2)" in decided and "lora_alpha could not reach it" in decided


def test_a_best_at_the_edge_of_its_own_range_is_flagged() -> None:
    # LR 9.5e-3: s·LR 1.9e-2, within 10 % of the log-width below the top (2e-2)
    warnings = coverage_warnings(summary(config(), _trials(lr_only_best_lr=9.5e-3, lora_alpha_best_c=200.0)))
    edge = [w["message"] for w in warnings if w["code"] == "best_at_edge"]
    assert len(edge) == 1 and "lr_only's best" in edge[0] and "top edge" in edge[0]


def test_a_head_trained_at_each_trials_lr_is_flagged() -> None:
    assert config().training.head_lr == 1e-3  # the symmetric default: the same head LR in every space
    warnings = coverage_warnings(summary(config({"training.head_lr": None}), _trials(1e-3, 200.0)))
    assert [w["code"] for w in warnings] == ["head_lr_per_trial"]


def test_builtin_experiments_are_symmetric() -> None:
    """Every built-in experiment: a fixed head LR, and every compared space matched to one s·LR range."""
    from lorasweep.config import builtin_names, load_experiment

    for name in builtin_names("experiment"):
        exp = load_experiment(name)
        assert exp.training.head_lr is not None, name
        assert exp.effective_step is not None, name
        compared = [s for s in exp.spaces if s.name in ("lr_only", "lora_alpha")]
        assert all(load_space(s.name).matched for s in compared), name
