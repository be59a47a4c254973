from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model

from lorasweep.scaling import LoraParams, alpha_from_c, c_from_alpha, effective_step, lora_scaling


@pytest.mark.parametrize("use_rslora", [False, True])
@pytest.mark.parametrize(("rank", "alpha"), [(1, 1.0), (4, 8.0), (8, 724.0), (16, 0.5)])
def test_lora_scaling_is_what_peft_applies(rank: int, alpha: float, use_rslora: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(16, 16))
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=["0"], use_rslora=use_rslora)
    )
    layer = peft_model.base_model.model[0]
    assert layer.scaling["default"] == pytest.approx(lora_scaling(alpha, rank, use_rslora))


@given(st.floats(0.01, 1e4), st.integers(1, 512))
def test_c_and_alpha_round_trip(c: float, rank: int) -> None:
    assert c_from_alpha(alpha_from_c(c, rank), rank) == pytest.approx(c)
    assert alpha_from_c(c, rank) == pytest.approx(c * math.sqrt(rank))


def test_lora_params_derive_everything_from_one_formula() -> None:
    p = LoraParams(rank=16, alpha=64.0, lr=1e-4)
    assert p.scaling == 4.0
    assert p.c == 16.0
    assert p.effective_step == pytest.approx(effective_step(4.0, 1e-4)) == pytest.approx(4e-4)
    rs = LoraParams(rank=16, alpha=64.0, lr=1e-4, use_rslora=True)
    assert rs.scaling == 16.0
    assert set(p.as_dict()) == {"r", "alpha", "c", "lr", "scaling", "effective_step", "use_rslora", "loraplus_lr_ratio"}


@pytest.mark.parametrize(("rank", "alpha", "lr"), [(0, 1.0, 1e-3), (4, 0.0, 1e-3), (4, 1.0, -1.0)])
def test_lora_params_reject_out_of_range(rank: int, alpha: float, lr: float) -> None:
    with pytest.raises(ValueError, match="need rank"):
        LoraParams(rank=rank, alpha=alpha, lr=lr)
