"""GPUs: the share each trial held and why (``gpus_per_trial``, or what ``auto`` measured), and
the devices the trials trained on. Shown when the experiment gave its trials GPUs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from lorasweep.analysis.summary import ExperimentSummary
from lorasweep.report.sections import Row, Section, register
from lorasweep.train.memory import describe_share

#: The cell of a trial that reported no device (it failed before its first evaluation).
UNREPORTED = "not reported"


@dataclass(frozen=True, kw_only=True)
class GpuUse:
    share: float
    auto: dict[str, Any] | None
    why: str
    devices: dict[str, dict[str, int]]  # space → device string → trials


@register
class ResourcesSection(Section[GpuUse]):
    name = "resources"
    title = "GPUs"
    order = 25

    def compute(self, summary: ExperimentSummary) -> GpuUse | None:
        exp = summary.config
        if exp is None or exp.resources.gpus_per_trial in (0, 0.0, "auto"):
            return None
        auto = exp.resources.auto
        return GpuUse(
            share=float(exp.resources.gpus_per_trial),
            auto=auto.model_dump(mode="json") if auto is not None else None,
            why=describe_share(exp),
            devices={
                name: dict(Counter(t.device or UNREPORTED for t in s.trials)) for name, s in summary.spaces.items()
            },
        )

    def json(self, summary: ExperimentSummary, data: GpuUse) -> dict[str, Any]:
        return {
            "gpus": {"gpus_per_trial": data.share, "auto": data.auto, "why": data.why},
            "spaces": {name: {"devices": devices} for name, devices in data.devices.items()},
        }

    def rows(self, summary: ExperimentSummary, data: GpuUse) -> list[Row]:
        cells = {
            name: [f"{device} × {n}" for device, n in sorted(devices.items())] for name, devices in data.devices.items()
        }
        return [Row(label="Trained on (trials)", cells=cells)]

    def text(self, summary: ExperimentSummary, data: GpuUse) -> list[str]:
        return [data.why]
