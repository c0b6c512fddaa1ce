"""Offline stand-ins for real small models: the architecture and size of a hub model, with
random weights and a local tokenizer of the same vocabulary size.

The benchmark's memory target is about GPT-2 / SmolLM2 / Qwen2.5-0.5B class models, where
the critic TRL keeps beside the policy is a real share of memory and the vocabulary makes
the logits the largest activation. No hub is reachable here or on the GPU machine, so
`--model random:<preset>` builds such a model locally. Speed and memory depend on shapes,
not on what the weights learned, so both trainers compare as they would on the real model;
the text is noise (and rarely stops, so every response runs to max_new_tokens on both
sides).

The tokenizer is the demo's byte-level BPE trained on demo reviews, with filler tokens
`<x123>` appended to reach the preset's vocabulary size (they decode as that text).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import GPT2Config, LlamaConfig, PretrainedConfig, Qwen2Config

RANDOM_PREFIX = "random:"
BUILD_VERSION = 1
"""Bump when a preset or the tokenizer recipe changes, so cached folders are rebuilt."""


def _gpt2_small(vocab: int) -> PretrainedConfig:
    return GPT2Config(vocab_size=vocab, n_positions=1024, n_embd=768, n_layer=12, n_head=12)


def _smollm2_360m(vocab: int) -> PretrainedConfig:
    return LlamaConfig(vocab_size=vocab, hidden_size=960, intermediate_size=2560,
                       num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
                       max_position_embeddings=2048, tie_word_embeddings=True)  # fmt: skip


def _qwen25_05b(vocab: int) -> PretrainedConfig:
    return Qwen2Config(vocab_size=vocab, hidden_size=896, intermediate_size=4864,
                       num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                       max_position_embeddings=4096, tie_word_embeddings=True)  # fmt: skip


def _tiny(vocab: int) -> PretrainedConfig:
    """For tests: the code path of the big presets in seconds."""
    return LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=256, tie_word_embeddings=True)  # fmt: skip


# name -> (config for a vocabulary size, the real model's vocabulary size)
PRESETS: dict[str, tuple[Callable[[int], PretrainedConfig], int]] = {
    "gpt2-small": (_gpt2_small, 50257),
    "smollm2-360m": (_smollm2_360m, 49152),
    "qwen2.5-0.5b": (_qwen25_05b, 151936),
    "tiny": (_tiny, 4000),
}


def is_random_model(name: str) -> bool:
    return name.startswith(RANDOM_PREFIX)


def random_model(name: str, cache_dir: Path, seed: int = 0) -> Path:
    """The folder of `random:<preset>`, built into `cache_dir` on first use."""
    preset = name.removeprefix(RANDOM_PREFIX)
    if preset not in PRESETS:
        raise SystemExit(
            f"--model {name}: unknown preset; choose one of "
            + ", ".join(RANDOM_PREFIX + p for p in PRESETS)
        )
    folder = Path(cache_dir) / f"random-{preset}-v{BUILD_VERSION}-seed{seed}"
    if (folder / "config.json").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_random_model(preset, partial, seed)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def build_random_model(preset: str, out: Path, seed: int = 0) -> None:
    """Write a random-weight causal LM of `preset`'s shape and its tokenizer to `out`."""
    from transformers import AutoModelForCausalLM

    make_config, vocab = PRESETS[preset]
    tokenizer = _tokenizer_of_size(vocab)
    config = make_config(vocab)
    config.bos_token_id = config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _tokenizer_of_size(vocab: int):
    """The demo BPE tokenizer padded with filler tokens to exactly `vocab` entries."""
    from transformers import PreTrainedTokenizerFast

    from core.demo.corpus import generate_reviews
    from core.demo.tokenizer import train_bpe_tokenizer

    base = train_bpe_tokenizer(generate_reviews(4000, seed=0), vocab_size=min(vocab, 2048))
    spec = json.loads(base.backend_tokenizer.to_str())
    table = spec["model"]["vocab"]
    filler = (f"<x{i}>" for i in range(vocab))
    while len(table) < vocab:
        token = next(filler)
        if token not in table:
            table[token] = len(table)
    from tokenizers import Tokenizer

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        eos_token=base.eos_token,
        pad_token=base.pad_token,
    )
