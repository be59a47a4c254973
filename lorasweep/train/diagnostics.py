"""Per-step LoRA update diagnostics: the first-order "signal" and the second-order "drift".

LoRA adds ``ΔW = s·B·A`` to a frozen weight ``W`` (``B``: d_out×r, ``A``: r×d_in, ``s`` = scaling).
One optimizer step moves ``A → A+δA`` and ``B → B+δB``, so the change in ``ΔW`` is::

    s·[(B+δB)(A+δA) − BA] = s·(δB·A + B·δA) + s·δB·δA

lorasweep's operational definitions, per module and per step:

* ``signal = ‖s·(δB·A + B·δA)‖_F`` — the part of the update linear in the step;
* ``drift  = ‖s·δB·δA‖_F`` — the bilinear cross term of the two factor updates;
* ``drift ratio = drift / signal``.

Over several modules the signal and the drift are each aggregated as a root-sum-square, and the ratio
is taken of the aggregates.

Nothing of size d_out×d_in is ever formed: every norm comes from r×r Gram matrices, using
``‖XY‖²_F = tr((XᵀX)(YYᵀ))`` and, for the cross term of the signal,
``‖P+Q‖² = ‖P‖² + ‖Q‖² + 2⟨P,Q⟩`` with ``⟨XY, UV⟩_F = tr((UᵀX)(YVᵀ))``. The Gram matrices are computed
in at least float32 (float64 inputs stay float64) and the r×r traces in float64, whatever the
parameter dtype; tiny negative values left by rounding are clamped to 0 before any square root.

Typical use in a training loop::

    diag = LoraDiagnostics(peft_model)
    for step in range(1, max_steps + 1):
        loss.backward()
        run = every(step, cadence)
        if run:
            diag.before_step()
        optimizer.step()
        if run:
            stats = diag.after_step()
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LoraDiagnostics", "StepDiagnostics", "dense_terms", "every", "module_terms"]


@dataclass(frozen=True, kw_only=True)
class StepDiagnostics:
    """Signal, drift and drift ratio of one optimizer step (one module, or aggregated over modules).

    ``drift_ratio`` is ``drift / signal``, or ``nan`` when ``signal == 0`` (e.g. nothing changed).
    """

    signal: float
    drift: float
    drift_ratio: float

    @classmethod
    def from_squares(cls, signal_sq: float, drift_sq: float) -> StepDiagnostics:
        """Build from (summed) squared norms; negative rounding residue is clamped to 0."""
        signal = math.sqrt(max(signal_sq, 0.0))
        drift = math.sqrt(max(drift_sq, 0.0))
        ratio = drift / signal if signal > 0.0 else float("nan")
        return cls(signal=signal, drift=drift, drift_ratio=ratio)


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """At least float32; float64 if any input is float64."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    """View a LoRA factor as a 2-D matrix (conv factors are flattened over their kernel dims)."""
    return t.reshape(t.shape[0], -1) if t.dim() != 2 else t


def _gram_terms(
    A: torch.Tensor, B: torch.Tensor, dA: torch.Tensor, dB: torch.Tensor, scaling: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(signal², drift²) as 0-dim float64 tensors on the inputs' device, from r×r Gram matrices only.

    Shapes: ``A``, ``dA``: r×d_in; ``B``, ``dB``: d_out×r; or a stack of g modules of the same
    shapes (g×r×d_in, g×d_out×r), whose terms are summed. No host synchronisation happens here.
    """
    dtype = _compute_dtype(A, B, dA, dB)
    A, B, dA, dB = (t.detach().to(dtype) if t.dim() == 3 else _as_matrix(t.detach()).to(dtype) for t in (A, B, dA, dB))

    # r×r Gram matrices (the only products that contract over d_in or d_out), then float64.
    AAt = (A @ A.mT).double()  # A Aᵀ
    dAdAt = (dA @ dA.mT).double()  # δA δAᵀ
    dAAt = (dA @ A.mT).double()  # δA Aᵀ
    BtB = (B.mT @ B).double()  # Bᵀ B
    dBtdB = (dB.mT @ dB).double()  # δBᵀ δB
    BtdB = (B.mT @ dB).double()  # Bᵀ δB

    # tr(MN) = Σ_ij M_ij N_ji; for symmetric N this is Σ M ⊙ N.
    p_sq = (dBtdB * AAt).sum()  # ‖δB A‖² = tr((δBᵀδB)(AAᵀ))
    q_sq = (BtB * dAdAt).sum()  # ‖B δA‖² = tr((BᵀB)(δAδAᵀ))
    cross = (BtdB * dAAt).sum()  # ⟨δB A, B δA⟩ = tr((BᵀδB)(AδAᵀ)) = Σ (BᵀδB) ⊙ (δA Aᵀ)
    d_sq = (dBtdB * dAdAt).sum()  # ‖δB δA‖² = tr((δBᵀδB)(δAδAᵀ))

    s2 = float(scaling) ** 2
    signal_sq = torch.clamp(s2 * (p_sq + q_sq + 2.0 * cross), min=0.0)
    drift_sq = torch.clamp(s2 * d_sq, min=0.0)
    return signal_sq, drift_sq


def module_terms(
    A: torch.Tensor, B: torch.Tensor, dA: torch.Tensor, dB: torch.Tensor, scaling: float
) -> tuple[float, float]:
    """(signal², drift²) of one LoRA module's step, computed from r×r Gram matrices.

    Args:
        A: the old LoRA A factor, r×d_in.
        B: the old LoRA B factor, d_out×r.
        dA: the step's change of A (same shape as ``A``).
        dB: the step's change of B (same shape as ``B``).
        scaling: the module's LoRA scaling ``s``.

    Returns:
        ``(‖s·(δB·A + B·δA)‖²_F, ‖s·δB·δA‖²_F)`` as Python floats, never negative.
    """
    signal_sq, drift_sq = _gram_terms(A, B, dA, dB, scaling)
    return float(signal_sq), float(drift_sq)


def dense_terms(
    A: torch.Tensor, B: torch.Tensor, dA: torch.Tensor, dB: torch.Tensor, scaling: float
) -> tuple[float, float]:
    """Reference implementation of :func:`module_terms`: forms the d_out×d_in products in float64.

    Used to check :func:`module_terms` in tests; too costly for real layers. Same arguments and return
    value as :func:`module_terms`.
    """
    A, B, dA, dB = (_as_matrix(t.detach()).double() for t in (A, B, dA, dB))
    s = float(scaling)
    signal = s * (dB @ A + B @ dA)
    drift = s * (dB @ dA)
    return float(torch.linalg.matrix_norm(signal) ** 2), float(torch.linalg.matrix_norm(drift) ** 2)


def _lora_modules(model: nn.Module, adapter_name: str) -> list[tuple[str, nn.Module]]:
    """Every PEFT LoRA layer that holds a ``lora_A``/``lora_B`` pair for ``adapter_name``."""
    from peft.tuners.lora import LoraLayer

    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        if adapter_name not in module.lora_A or adapter_name not in module.lora_B:
            continue
        found.append((name, module))
    return found


@dataclass(kw_only=True)
class _Group:
    """LoRA modules with factors of the same shapes, dtype, device and scaling, measured together:
    their factors are stacked (g×r×d_in, g×d_out×r), so a step costs a few batched kernels per
    group instead of a dozen per module (a 24-layer model has ~7 groups for ~170 modules)."""

    modules: list[nn.Module]
    scaling: float
    A_old: torch.Tensor | None = None
    B_old: torch.Tensor | None = None


class LoraDiagnostics:
    """Measures signal and drift of one optimizer step over every LoRA module of a PEFT model.

    Call :meth:`before_step` right before ``optimizer.step()`` and :meth:`after_step` right after it.
    The snapshot holds detached copies of the A and B factors only (r×d each), stacked per group of
    same-shaped modules, and is released by :meth:`after_step`. Works on CPU and CUDA; results stay
    on their device until :func:`resolve` (or :meth:`after_step`) brings them to the host.

    Only ``lora_A``/``lora_B`` layers are measured (LoRA embedding layers, which use
    ``lora_embedding_A``/``lora_embedding_B``, are skipped), and only the ``s·B·A`` part of the update
    (a DoRA magnitude vector or a LoRA bias is not included).
    """

    def __init__(self, model: nn.Module, adapter_name: str = "default") -> None:
        """Find the LoRA modules of ``model`` (typically a ``peft.PeftModel``) for ``adapter_name``."""
        self.adapter_name = adapter_name
        self._modules = _lora_modules(model, adapter_name)
        self._snapshot: list[_Group] | None = None

    @property
    def module_names(self) -> list[str]:
        """Qualified names of the LoRA modules being measured."""
        return [name for name, _ in self._modules]

    def _factors(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return module.lora_A[self.adapter_name].weight, module.lora_B[self.adapter_name].weight

    @torch.no_grad()
    def before_step(self) -> None:
        """Snapshot every module's A and B factors (and scaling) before the optimizer step."""
        groups: dict[tuple, _Group] = {}
        for _, module in self._modules:
            A, B = self._factors(module)
            scaling = float(module.scaling[self.adapter_name])
            key = (A.shape, B.shape, A.dtype, B.dtype, A.device, scaling)
            groups.setdefault(key, _Group(modules=[], scaling=scaling)).modules.append(module)
        for group in groups.values():
            group.A_old, group.B_old = self._stacked(group)
        self._snapshot = list(groups.values())

    def _stacked(self, group: _Group) -> tuple[torch.Tensor, torch.Tensor]:
        """The group's A and B factors, stacked into new tensors (g×r×d_in, g×d_out×r)."""
        factors = [self._factors(m) for m in group.modules]  # (callers run under no_grad)
        return torch.stack([_as_matrix(A) for A, _ in factors]), torch.stack([_as_matrix(B) for _, B in factors])

    @torch.no_grad()
    def after_step(self) -> StepDiagnostics:
        """Signal, drift and drift ratio of the step since :meth:`before_step`, aggregated over modules.

        The formula uses the old factors and ``δA = A_new − A_old``, ``δB = B_new − B_old``. The signal
        and drift are root-sum-squares over modules; the ratio is that of the aggregates (``nan`` when
        the aggregate signal is 0, e.g. when nothing changed or there are no LoRA modules).

        Raises:
            RuntimeError: when :meth:`before_step` was not called first.
        """
        return resolve(self.after_step_squares())

    @torch.no_grad()
    def after_step_squares(self) -> torch.Tensor:
        """Like :meth:`after_step`, but without waiting for the device: the summed squared signal
        and drift as a 2-element float64 tensor where the factors live (:func:`resolve` turns it
        into a :class:`StepDiagnostics` later, e.g. at the next report)."""
        if self._snapshot is None:
            raise RuntimeError("LoraDiagnostics.after_step() called without a matching before_step()")
        snapshot, self._snapshot = self._snapshot, None

        total: torch.Tensor | None = None
        for group in snapshot:
            assert group.A_old is not None and group.B_old is not None
            A_new, B_new = self._stacked(group)
            dtype = _compute_dtype(group.A_old, group.B_old)
            dA = A_new.to(dtype) - group.A_old.to(dtype)
            dB = B_new.to(dtype) - group.B_old.to(dtype)
            signal_sq, drift_sq = _gram_terms(group.A_old, group.B_old, dA, dB, group.scaling)
            both = torch.stack((signal_sq, drift_sq))
            total = both if total is None else total + both.to(total.device)
        return total if total is not None else torch.zeros(2, dtype=torch.float64)


def resolve(squares: torch.Tensor) -> StepDiagnostics:
    """A :class:`StepDiagnostics` from :meth:`LoraDiagnostics.after_step_squares` (one host sync)."""
    signal_sq, drift_sq = squares.tolist()
    return StepDiagnostics.from_squares(signal_sq, drift_sq)


def every(step: int, cadence: int | None) -> bool:
    """Whether diagnostics run at optimizer step ``step`` (steps count from 1).

    ``cadence`` ``None`` or ``0`` turns diagnostics off; otherwise they run when ``step % cadence == 0``.

    Raises:
        ValueError: for a negative ``cadence`` or a ``step`` below 1.
    """
    if not cadence:
        return False
    if cadence < 0:
        raise ValueError(f"diagnostics cadence must be a positive number of steps (or 0/None for off), got {cadence}")
    if step < 1:
        raise ValueError(f"optimizer steps count from 1, got step {step}")
    return step % cadence == 0
