"""A causal LM's shape (layers, widths, vocabulary) without loading it or importing torch.

The memory planner (core.memory_plan) needs only the shape: it reads a model folder's
config.json, the Hugging Face cache's copy for a hub id, or a known shape by name
(`random:<preset>` the benchmarks build, or the public configs of larger models for
planning on paper). Parameter counts are computed from the shape, as the architectures
lay their weights out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import StudioError

RANDOM_PREFIX = "random:"
"""`random:<preset>` names a random-weight model of that shape (bench/random_models.py)."""


class ShapeError(StudioError):
    """The planner cannot tell a model's shape."""


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on: family, depth, widths, heads and vocabulary."""

    family: str
    """config.json's model_type: 'gpt2' lays weights out differently from Llama-style ones."""
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied_embeddings: bool = True
    positions: int = 0
    """Learned position embeddings (GPT-2's wpe); 0 for rotary models."""
    qkv_bias: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // max(self.heads, 1)

    @property
    def kv_width(self) -> int:
        """Width of one token's keys (or values) in one layer."""
        return self.kv_heads * self.head_dim

    @property
    def is_gpt2(self) -> bool:
        return self.family in ("gpt2", "gpt_bigcode")

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each projection of one layer: what LoRA adapts and 8/4-bit quantises."""
        h, i, kv = self.hidden, self.intermediate, self.kv_width
        if self.is_gpt2:  # c_attn, attention c_proj, c_fc, MLP c_proj
            return [(h, 3 * h), (h, h), (h, i), (i, h)]
        return [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]

    @property
    def layer_linear_params(self) -> int:
        return sum(a * b for a, b in self.linear_shapes())

    @property
    def embedding_params(self) -> int:
        """Token (and position) embeddings, plus an untied output head."""
        head = 0 if self.tied_embeddings else self.vocab * self.hidden
        return (self.vocab + self.positions) * self.hidden + head

    @property
    def small_params(self) -> int:
        """Norms and biases, all layers: kept in the compute dtype by 8/4-bit loading."""
        h = self.hidden
        if self.is_gpt2:  # two LayerNorms (weight, bias) and the projections' biases
            per_layer = 4 * h + 3 * h + h + self.intermediate + h
            return self.layers * per_layer + 2 * h
        bias = (h + 2 * self.kv_width) if self.qkv_bias else 0
        return self.layers * (2 * h + bias) + h

    @property
    def params(self) -> int:
        """All parameters, tied tensors counted once (as ModelSession.param_counts does)."""
        return self.layers * self.layer_linear_params + self.embedding_params + self.small_params


def _llama(layers, hidden, intermediate, heads, kv_heads, vocab, tied=True, **extra):
    return ModelShape("llama", layers, hidden, intermediate, heads, kv_heads, vocab, tied, **extra)


def _qwen2(layers, hidden, intermediate, heads, kv_heads, vocab, tied=True):
    return replace(
        _llama(layers, hidden, intermediate, heads, kv_heads, vocab, tied),
        family="qwen2",
        qkv_bias=True,
    )


KNOWN_SHAPES: dict[str, ModelShape] = {
    # The random presets of bench/random_models.py (the shapes of the hub models).
    "gpt2-small": ModelShape("gpt2", 12, 768, 3072, 12, 12, 50257, True, positions=1024),
    "smollm2-360m": _llama(32, 960, 2560, 15, 5, 49152),
    "qwen2.5-0.5b": _qwen2(24, 896, 4864, 14, 2, 151936),
    "tiny": _llama(2, 32, 64, 4, 2, 4000),
    # Larger models, from their published config.json, for planning on paper.
    "qwen2.5-1.5b": _qwen2(28, 1536, 8960, 12, 2, 151936),
    "qwen2.5-3b": _qwen2(36, 2048, 11008, 16, 2, 151936),
    "llama-3.2-1b": _llama(16, 2048, 8192, 32, 8, 128256),
    "qwen2.5-7b": _qwen2(28, 3584, 18944, 28, 4, 152064, tied=False),
    "llama-2-7b": _llama(32, 4096, 11008, 32, 32, 32000, tied=False),
}
"""Shapes the planner knows by name (also as `random:<name>`)."""


def shape_from_config(config: dict[str, Any]) -> ModelShape:
    """The shape a config.json describes (GPT-2 style keys or Llama-style ones)."""
    config = dict(config.get("text_config") or {}, **config)
    family = str(config.get("model_type") or "unknown")
    try:
        if family in ("gpt2", "gpt_bigcode"):
            hidden = int(config["n_embd"])
            return ModelShape(
                family,
                int(config["n_layer"]),
                hidden,
                int(config.get("n_inner") or 4 * hidden),
                int(config["n_head"]),
                int(config["n_head"]),
                int(config["vocab_size"]),
                True,
                positions=int(config.get("n_positions") or 0),
            )
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        return ModelShape(
            family,
            int(config["num_hidden_layers"]),
            hidden,
            int(config.get("intermediate_size") or 4 * hidden),
            heads,
            int(config.get("num_key_value_heads") or heads),
            int(config["vocab_size"]),
            bool(config.get("tie_word_embeddings", True)),
            qkv_bias=family == "qwen2" or bool(config.get("attention_bias")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ShapeError(
            f"The model's config.json ({family}) lacks a size the planner needs ({error}); "
            "plan with a known shape instead (e.g. --model random:qwen2.5-0.5b)."
        ) from error


def known_shape(name: str) -> ModelShape | None:
    """A shape by its name, with or without the random: prefix; None if unknown."""
    return KNOWN_SHAPES.get(name.removeprefix(RANDOM_PREFIX).lower())


def shape_of(name_or_path: str) -> ModelShape:
    """The shape of 'demo', a known name, a model folder or a hub id in the local cache.

    Reads one small JSON file at most (never downloads): callable from a GUI worker."""
    shape = known_shape(name_or_path)
    if shape is not None:
        return shape
    return shape_from_config(_read_config(name_or_path))


def _read_config(name_or_path: str) -> dict[str, Any]:
    path = _config_path(name_or_path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ShapeError(f"Cannot read {path}: {error}. Pass a model folder.") from error


def _config_path(name_or_path: str) -> Path:
    if name_or_path == "demo":
        from core.demo.cache import demo_model_folder

        folder = demo_model_folder()
    else:
        folder = Path(name_or_path).expanduser()
    if (folder / "config.json").is_file():
        return folder / "config.json"
    cached = _hub_cache_config(name_or_path)
    if cached is not None:
        return cached
    known = ", ".join(f"{RANDOM_PREFIX}{name}" for name in KNOWN_SHAPES)
    raise ShapeError(
        f"No config.json for '{name_or_path}' (not a model folder, not in the local hub "
        f"cache; for the demo model, build it first). Pass a folder or a known shape: {known}."
    )


def _hub_cache_config(repo_id: str) -> Path | None:
    """config.json of a hub model already in the local cache, without network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an invalid repo id, an unreadable cache: not in the cache
        return None
    return Path(found) if isinstance(found, str) else None
