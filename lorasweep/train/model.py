"""Base model and tokenizer loading, once per process, with the head a task kind asks for
(:class:`~lorasweep.api.Head`).

Loading is cached per process (``functools.lru_cache``): under Ray's actor reuse a worker loads
the base model once and every later trial deep-copies it, so imports and weight loading are not
paid again per trial. The cache key includes the seed, which fixes the new head's init.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import warnings
from typing import Any

import torch

from lorasweep.api.head import Head
from lorasweep.config import ModelConfig
from lorasweep.errors import ConfigError
from lorasweep.train.packaged import resolve_model


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (the CLI's --verbose skips this)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers|peft")


@functools.lru_cache(maxsize=4)
def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    src = resolve_model(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(src.path, trust_remote_code=trust_remote_code, **src.kwargs())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"model.name_or_path '{name_or_path}': cannot load a tokenizer ({str(e).splitlines()[0]}); "
            "give a local model directory or a hub id that is reachable or cached"
        ) from e
    if tok.pad_token is None:  # GPT-style tokenizers: pad with EOS, as sequence classification expects
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"  # batches trim padding from the right (see data.Encoded.batch)
    return tok


@functools.lru_cache(maxsize=2)
def _load_base(name_or_path: str, config_json: str | None, head: Head, seed: int, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    torch.manual_seed(seed)  # fixes the init of the new classification head (and all weights from a config)
    auto = head.auto()
    if config_json is not None:
        raw = json.loads(config_json)
        model_type = raw.pop("model_type", None)
        if model_type is None:
            raise ConfigError("model.config: needs a model_type (e.g. bert or llama); add it")
        cfg = AutoConfig.for_model(model_type, **head.config_kwargs(), **raw)
        model = auto.from_config(cfg)
    else:
        src = resolve_model(name_or_path)
        try:
            # float32 master weights whatever the checkpoint's dtype: tiny AdamW steps (LR 2e-5)
            # would round away in bf16; autocast runs the matmuls in bf16 on a GPU. (A GGUF file
            # is dequantised to float32 here.)
            model = auto.from_pretrained(
                src.path,
                **head.config_kwargs(),
                trust_remote_code=trust_remote_code,
                dtype=torch.float32,
                **src.kwargs(),
            )
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"model.name_or_path '{name_or_path}': cannot load weights ({str(e).splitlines()[0]}); "
                "give a local model directory or a hub id that is reachable or cached"
            ) from e
    if model.config.pad_token_id is None:
        tok = load_tokenizer(name_or_path, trust_remote_code)
        model.config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for key, value in head.config:  # the head's keys win over the checkpoint's (use_cache, num_labels)
        setattr(model.config, key, value)
    model.eval()
    return model


def base_model(cfg: ModelConfig, seed: int, *, head: Head) -> Any:
    """A fresh, trainable copy of the (cached) base model with ``head`` (a kind's), in
    ``cfg.dtype``, with gradient checkpointing when ``cfg.gradient_checkpointing``."""
    model = _fresh_base(cfg, seed, head)
    if cfg.dtype != "float32":
        model = model.to(getattr(torch, cfg.dtype))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def _fresh_base(cfg: ModelConfig, seed: int, head: Head) -> Any:
    config_json = None
    if cfg.config is not None:
        tok = load_tokenizer(cfg.name_or_path, cfg.trust_remote_code)
        config_json = json.dumps({"vocab_size": len(tok), **cfg.config}, sort_keys=True)
    return copy.deepcopy(_load_base(cfg.name_or_path, config_json, head, seed, cfg.trust_remote_code))


def check_model(cfg: ModelConfig, *, head: Head) -> Any:
    """Fail fast, before any trial, on a model or tokenizer that cannot load; return the
    architecture built on PyTorch's meta device (no weights are loaded or allocated), so this
    costs the same for a 7B model as for a tiny one."""
    from transformers import AutoConfig

    load_tokenizer(cfg.name_or_path, cfg.trust_remote_code)
    kwargs = head.config_kwargs()
    if cfg.config is not None:
        raw = dict(cfg.config)
        model_type = raw.pop("model_type", None)
        if model_type is None:
            raise ConfigError("model.config: needs a model_type (e.g. bert or llama); add it")
        try:
            config = AutoConfig.for_model(model_type, **kwargs, **raw)
        except ValueError as e:
            raise ConfigError(f"model.config: {str(e).splitlines()[0]}; fix model_type or the keys") from e
    else:
        src = resolve_model(cfg.name_or_path)
        try:
            config = AutoConfig.from_pretrained(
                src.path, **kwargs, trust_remote_code=cfg.trust_remote_code, **src.kwargs()
            )
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"model.name_or_path '{cfg.name_or_path}': cannot load its config ({str(e).splitlines()[0]}); "
                "give a local model directory or a hub id that is reachable or cached"
            ) from e
    with torch.device("meta"):
        try:
            model = head.auto().from_config(config, trust_remote_code=cfg.trust_remote_code)
        except ValueError as e:
            raise ConfigError(
                f"model.name_or_path '{cfg.name_or_path}': {str(e).splitlines()[0]}; lorasweep needs {head.what} "
                "for this task kind"
            ) from e
    return model
