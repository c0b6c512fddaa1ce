"""A rough estimate of the memory a PPO run needs, shown by the Train page before Start
and printed by the CLI's `ppo` before its first step.

Rough by design (±50%): it is there to warn "this will not fit", not to plan to the MiB.
Terms: frozen base weights; LoRA weights with their gradients and Adam moments (fp32);
the KV cache while sampling; activations and logits of one minibatch forward/backward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import LoraSpec, PPOConfig

if TYPE_CHECKING:
    from core.models import ModelSession

BYTES_PER_DTYPE = {"float32": 4, "bfloat16": 2, "float16": 2}
BYTES_PER_QUANTIZED_WEIGHT = {"4bit": 0.52, "8bit": 1.0}
"""Stored bytes per base weight under --quantize: NF4 plus its double-quantised block
scales is ~4.13 bits; LLM.int8 one byte (embeddings and head, kept float32, are ignored)."""
PROMPT_TOKENS = 64
"""Assumed prompt length (prompts are not tokenised on the GUI thread)."""
ACTIVATION_FACTOR = 34
"""Bytes-per-element multiplier of saved activations per token per layer, in units of
hidden size × dtype bytes (Korthikanti et al. 2022, without recomputation)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per term and their total."""

    weights: int
    lora_and_optimizer: int
    sampling_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.lora_and_optimizer + self.sampling_cache + self.activations

    def describe(self) -> str:
        return (
            f"≈ {_gib(self.total)} (weights {_gib(self.weights)}, LoRA + optimiser "
            f"{_gib(self.lora_and_optimizer)}, sampling {_gib(self.sampling_cache)}, "
            f"activations {_gib(self.activations)})"
        )


def estimate_ppo_memory(info: dict[str, Any], config: PPOConfig, lora: LoraSpec) -> MemoryEstimate:
    """Estimate from a model description (core.models.describe) and the run settings."""
    params = int(info.get("params", 0))
    hidden = max(int(info.get("hidden_size", 0)), 1)
    vocab = int(info.get("vocab_size", 0))
    width = BYTES_PER_DTYPE.get(str(info.get("dtype", "float32")), 4)
    layers = _layers(params, hidden, vocab)
    sequence = PROMPT_TOKENS + config.max_new_tokens
    weights = int(params * BYTES_PER_QUANTIZED_WEIGHT.get(str(info.get("quantize")), width))
    # LoRA on ~4 projections per layer: 2 * r * hidden weights each; fp32 weight, grad,
    # two Adam moments = 16 bytes per weight. The value head is negligible.
    lora_params = layers * 4 * 2 * lora.r * hidden
    lora_and_optimizer = lora_params * 16
    sampling_cache = 2 * layers * config.batch_size * sequence * hidden * width
    tokens = config.mini_batch_size * sequence
    activations = tokens * layers * hidden * width * ACTIVATION_FACTOR // 2
    logits = tokens * vocab * 4 * 3  # logits, log-softmax and their gradient, fp32
    return MemoryEstimate(weights, lora_and_optimizer, sampling_cache, activations + logits)


def session_memory_line(session: ModelSession, config: PPOConfig) -> str:
    """The estimate for a loaded session and run settings, as one line (the CLI's)."""
    from core.models import describe  # lazy: core.models pulls in torch

    info = describe(session)
    lora = session.spec.lora if session.spec.lora is not None else LoraSpec()
    estimate = estimate_ppo_memory(info, config, lora)
    return f"memory estimate (rough, ±50%): {estimate.describe()} on {info['device']}"


def _layers(params: int, hidden: int, vocab: int) -> int:
    """Layer count from the parameter count: ~12·h² per transformer layer plus embeddings."""
    body = max(params - vocab * hidden, 12 * hidden * hidden)
    return max(1, round(body / (12 * hidden * hidden)))


def _gib(n_bytes: int) -> str:
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:.0f} MiB"
    return f"{n_bytes / 2**30:.1f} GiB"
