"""A tiny causal LM for offline tests (and CPU benchmarks): a character-level tokenizer built with
``tokenizers`` and a Llama model with random weights, saved like a hub snapshot, so lorasweep
loads it through the same ``AutoTokenizer`` / ``AutoModelForCausalLM.from_pretrained`` path as a
real checkpoint. No network."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

#: A minimal chat template: user turn, then the assistant's, each closed by EOS.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tokenizer(chat_template: bool = False) -> Any:
    """One token per printable ASCII character, plus <pad>, <s> (added in front), </s> and <unk>."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in string.printable:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(vocab_size: int, **overrides: Any) -> dict[str, Any]:
    return {
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        **overrides,
    }


def save_tiny_causal_lm(folder: Path, chat_template: bool = False, seed: int = 0, **overrides: Any) -> Path:
    """Save tokenizer and a random tiny Llama into ``folder`` (a local "hub snapshot")."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = build_tokenizer(chat_template)
    raw = tiny_config(len(tokenizer), **overrides)
    config = AutoConfig.for_model(
        raw.pop("model_type"),
        **raw,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
