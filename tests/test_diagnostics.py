"""LoRA step diagnostics: the Gram-matrix signal/drift equals the dense computation, on random factors
and on a real PEFT model."""

from __future__ import annotations

import math

import numpy as np
import peft
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lorasweep.train.diagnostics import (
    LoraDiagnostics,
    StepDiagnostics,
    dense_terms,
    every,
    module_terms,
)

ELEMENTS = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def lora_step(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    r = draw(st.integers(1, 8))
    d_in = draw(st.integers(1, 24))
    d_out = draw(st.integers(1, 24))

    def matrix(rows: int, cols: int) -> torch.Tensor:
        return torch.from_numpy(draw(hnp.arrays(np.float64, (rows, cols), elements=ELEMENTS)))

    A, dA = matrix(r, d_in), matrix(r, d_in)
    B, dB = matrix(d_out, r), matrix(d_out, r)
    scaling = draw(st.floats(min_value=1e-3, max_value=64.0))
    return A, B, dA, dB, scaling


def _fro_sq(t: torch.Tensor) -> float:
    return float((t.double() ** 2).sum())


@settings(max_examples=150, deadline=None)
@given(lora_step())
def test_module_terms_match_dense(case: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]) -> None:
    A, B, dA, dB, s = case
    signal_sq, drift_sq = module_terms(A, B, dA, dB, s)
    ref_signal_sq, ref_drift_sq = dense_terms(A, B, dA, dB, s)

    assert signal_sq >= 0.0 and drift_sq >= 0.0
    # The Gram form of ‖P+Q‖² can cancel; bound the absolute error by the size of the parts.
    signal_scale = s * s * (_fro_sq(dB) * _fro_sq(A) + _fro_sq(B) * _fro_sq(dA))
    drift_scale = s * s * _fro_sq(dB) * _fro_sq(dA)
    assert math.isclose(signal_sq, ref_signal_sq, rel_tol=1e-6, abs_tol=1e-12 * signal_scale + 1e-300)
    assert math.isclose(drift_sq, ref_drift_sq, rel_tol=1e-6, abs_tol=1e-12 * drift_scale + 1e-300)


def test_module_terms_low_precision_inputs() -> None:
    """bf16/fp16/fp32 factors are computed in float32+ and agree with the float64 reference."""
    gen = torch.Generator().manual_seed(0)
    A, dA = torch.randn(4, 40, generator=gen), 1e-2 * torch.randn(4, 40, generator=gen)
    B, dB = torch.randn(30, 4, generator=gen), 1e-2 * torch.randn(30, 4, generator=gen)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        args = [t.to(dtype) for t in (A, B, dA, dB)]
        got = module_terms(*args, 2.0)
        ref = dense_terms(*args, 2.0)
        assert got == pytest.approx(ref, rel=1e-4)


def _tiny_peft(init_lora_weights: bool) -> peft.PeftModel:
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(16, 12), torch.nn.ReLU(), torch.nn.Linear(12, 4))
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["0", "2"], init_lora_weights=init_lora_weights)
    return peft.get_peft_model(base, config)


def _factors(model: peft.PeftModel) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """(A, B, scaling) of every LoRA layer, read straight from PEFT, as detached float64 copies."""
    out = []
    for module in model.modules():
        if isinstance(module, peft.tuners.lora.LoraLayer) and "default" in module.lora_A:
            A = module.lora_A["default"].weight.detach().double().clone()
            B = module.lora_B["default"].weight.detach().double().clone()
            out.append((A, B, float(module.scaling["default"])))
    return out


def _adamw_step(model: peft.PeftModel, diag: LoraDiagnostics) -> tuple[StepDiagnostics, list, list]:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 16, generator=gen), torch.randn(32, 4, generator=gen)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()

    old = _factors(model)
    diag.before_step()
    optimizer.step()
    result = diag.after_step()
    return result, old, _factors(model)


def test_peft_model_matches_dense_rss() -> None:
    model = _tiny_peft(init_lora_weights=False)
    diag = LoraDiagnostics(model)
    assert len(diag.module_names) == 2

    result, old, new = _adamw_step(model, diag)

    signal_sq = drift_sq = 0.0
    for (A, B, s), (A_new, B_new, _) in zip(old, new, strict=True):
        assert torch.count_nonzero(B) > 0  # init_lora_weights=False: the B·δA term is exercised
        dA, dB = A_new - A, B_new - B
        signal_sq += float(torch.linalg.matrix_norm(s * (dB @ A + B @ dA)) ** 2)
        drift_sq += float(torch.linalg.matrix_norm(s * (dB @ dA)) ** 2)
    signal, drift = math.sqrt(signal_sq), math.sqrt(drift_sq)

    assert signal > 0.0 and drift > 0.0
    assert result.signal == pytest.approx(signal, rel=1e-5)
    assert result.drift == pytest.approx(drift, rel=1e-5)
    assert result.drift_ratio == pytest.approx(drift / signal, rel=1e-5)


def test_standard_init_signal_is_dB_times_A() -> None:
    """With B = 0 at the old point the B·δA term vanishes: signal = ‖s·δB·A‖ (root-sum-square)."""
    model = _tiny_peft(init_lora_weights=True)
    diag = LoraDiagnostics(model)

    result, old, new = _adamw_step(model, diag)

    expected_sq = 0.0
    for (A, B, s), (_, B_new, _) in zip(old, new, strict=True):
        assert torch.count_nonzero(B) == 0
        expected_sq += float(torch.linalg.matrix_norm(s * ((B_new - B) @ A)) ** 2)

    assert expected_sq > 0.0
    assert result.signal == pytest.approx(math.sqrt(expected_sq), rel=1e-5)


def test_no_change_gives_nan_ratio() -> None:
    model = _tiny_peft(init_lora_weights=False)
    diag = LoraDiagnostics(model)
    diag.before_step()
    result = diag.after_step()
    assert result.signal == 0.0
    assert result.drift == 0.0
    assert math.isnan(result.drift_ratio)


def test_after_step_requires_before_step() -> None:
    diag = LoraDiagnostics(_tiny_peft(init_lora_weights=False))
    with pytest.raises(RuntimeError, match="before_step"):
        diag.after_step()
    diag.before_step()
    diag.after_step()
    with pytest.raises(RuntimeError, match="before_step"):  # the snapshot is used once
        diag.after_step()


def test_step_diagnostics_aggregate() -> None:
    d = StepDiagnostics.from_squares(9.0 + 16.0, 1.0)
    assert (d.signal, d.drift, d.drift_ratio) == (5.0, 1.0, 0.2)
    assert math.isnan(StepDiagnostics.from_squares(0.0, 0.0).drift_ratio)
    assert StepDiagnostics.from_squares(-1e-20, -1e-20).signal == 0.0


def test_every() -> None:
    assert not any(every(step, None) for step in range(1, 20))
    assert not any(every(step, 0) for step in range(1, 20))
    assert [step for step in range(1, 11) if every(step, 3)] == [3, 6, 9]
    assert all(every(step, 1) for step in range(1, 10))
    with pytest.raises(ValueError, match="cadence"):
        every(1, -2)
    with pytest.raises(ValueError, match="step"):
        every(0, 5)


def test_same_shaped_modules_are_measured_together_and_match_dense() -> None:
    """Modules of equal shapes and scaling are stacked into one batched computation; the totals
    still equal the per-module dense sums (a different alpha puts a module in its own group)."""
    torch.manual_seed(0)
    base = torch.nn.Sequential(*(torch.nn.Linear(8, 8) for _ in range(3)), torch.nn.Linear(8, 4))
    config = peft.LoraConfig(
        r=4, lora_alpha=8, alpha_pattern={"1": 32}, target_modules=["0", "1", "2", "3"], init_lora_weights=False
    )
    model = peft.get_peft_model(base, config)
    diag = LoraDiagnostics(model)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 8, generator=gen), torch.randn(32, 4, generator=gen)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.nn.functional.mse_loss(model(x), y).backward()
    old = _factors(model)
    diag.before_step()
    assert diag._snapshot is not None and len(diag._snapshot) == 3  # {0, 2}, {1} (other scaling), {3}
    optimizer.step()
    result = diag.after_step()
    signal_sq = drift_sq = 0.0
    for (A, B, s), (A_new, B_new, _) in zip(old, _factors(model), strict=True):
        dA, dB = A_new - A, B_new - B
        signal_sq += float(torch.linalg.matrix_norm(s * (dB @ A + B @ dA)) ** 2)
        drift_sq += float(torch.linalg.matrix_norm(s * (dB @ dA)) ** 2)
    assert result.signal == pytest.approx(math.sqrt(signal_sq), rel=1e-5)
    assert result.drift == pytest.approx(math.sqrt(drift_sq), rel=1e-5)
