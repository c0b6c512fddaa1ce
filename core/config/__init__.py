"""Frozen, typed configuration: one place for every default.

Each config round-trips through plain dicts (`to_dict` / `from_dict`, in
core/config/io.py, re-exported here) and JSON, and is saved beside every checkpoint and in the store with every run. Values derived at run
time live in their own objects; they are never written back into a config.

The fields users tune are declared with core.config.settings.setting (label, help, range): the
CLI flags, the app's forms and the range checks all read that one declaration.
PPOConfig lives in core/config/ppo.py (imported here: `from core.config import PPOConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config.io import from_dict, load_json, read_json_object, save_json, to_dict
from core.config.ppo import KL_MODES, LR_SCHEDULES, PPOConfig
from core.config.settings import as_in, hidden, setting

DEMO_MODEL = "demo"
"""The name that selects the built-in demo model wherever a model is asked for."""

__all__ = [
    "DEMO_MODEL",
    "KL_MODES",
    "LR_SCHEDULES",
    "GenerationConfig",
    "LoraSpec",
    "ModelSpec",
    "PPOConfig",
    "RMConfig",
    "from_dict",
    "load_json",
    "read_json_object",
    "save_json",
    "to_dict",
]


@dataclass(frozen=True)
class LoraSpec:
    """The LoRA adapter attached to a policy (flags: --lora-r, --lora-alpha, --lora-targets)."""

    r: int = setting(
        16,
        label="Rank",
        help="LoRA rank: the size of the low-rank update. In the app, a new rank reloads "
        "the model with a fresh adapter when training starts.",
        minimum=1,
        maximum=1024,
        widget_name="loraRankSpin",
    )
    alpha: int = setting(
        32,
        label="Alpha",
        help="LoRA scaling numerator: the update is scaled by alpha / rank.",
        minimum=1,
        maximum=4096,
        widget_name="loraAlphaSpin",
    )
    dropout: float = hidden(
        0.0, help="Dropout on the LoRA input; 0 because RL wants deterministic log-probs."
    )
    target_modules: tuple[str, ...] | None = setting(
        None,
        label="Target modules",
        help="Module names to adapt, comma-separated; empty picks them from the "
        "architecture (e.g. c_attn for GPT-2, q_proj,v_proj for Llama).",
        none_text="auto",
        flag="targets",
        widget_name="loraTargetsEdit",
    )
    seed: int = hidden(
        0, help="Seed of the adapter's random initialisation: same settings, same run."
    )


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load, where, and how."""

    name_or_path: str = DEMO_MODEL
    """'demo', a local model folder, or a hub id (hub ids need network or a warm cache)."""
    device: str = "auto"
    """auto | cpu | cuda | mps (auto: cuda, then mps, then cpu)."""
    dtype: str = "auto"
    """auto | float32 | bfloat16 | float16 (auto: bfloat16 on a GPU that supports it, else float32)."""
    trust_remote_code: bool = False
    """Run model code shipped with the checkpoint. Off unless the user asks for it."""
    lora: LoraSpec | None = field(default_factory=LoraSpec)
    """The adapter to attach; None loads the bare model (judges, scoring LMs)."""
    adapter_path: str | None = None
    """A saved PEFT adapter folder (a checkpoint) to load instead of a fresh adapter."""
    prompt_format: str = "plain"
    """plain | chat: chat sends each prompt as a user message through the tokenizer's chat
    template (for instruction-tuned models); plain feeds the text as it is."""
    quantize: str = "none"
    """none | 8bit | 4bit: store the frozen base weights with bitsandbytes (QLoRA; the
    `quant` extra). The adapter and the weights it does not quantise stay float32; dtype
    is then the compute dtype of the quantised layers (core/model/quantize.py)."""


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings for completions."""

    max_new_tokens: int = 32
    """Most tokens to generate after the prompt; generation stops earlier at EOS."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = off)."""
    top_k: int = 0
    """Sample only from the k likeliest tokens (0 = off)."""
    n: int = 1
    """Completions per prompt."""
    seed: int | None = 0
    """Seed for reproducible sampling; None draws a fresh one."""
    batch_size: int = 16
    """Sequences sampled at once (memory vs speed)."""


@dataclass(frozen=True)
class RMConfig:
    """Bradley–Terry reward-model training (the `train-rm` flags come from its settings)."""

    base: str = setting(
        DEMO_MODEL,
        label="Backbone",
        help="The backbone the reward model fine-tunes: 'demo' (the built-in demo model), a "
        "local folder or a hub id (a causal LM or an encoder), or an earlier reward model "
        "to fine-tune further.",
    )
    lora: LoraSpec = field(default_factory=LoraSpec)
    """Adapter trained on the backbone together with the scalar head."""
    epochs: int = setting(
        3,
        label="Epochs",
        help="Most passes over the training pairs (early stopping may end sooner).",
        minimum=1,
        maximum=1000,
    )
    batch_size: int = setting(
        8, label="Batch size", help="Pairs per optimiser step.", minimum=1, maximum=4096
    )
    learning_rate: float = setting(
        5e-4,
        label="Learning rate",
        help="Adam learning rate of the adapter and the scalar head.",
        minimum=1e-7,
        maximum=1.0,
        decimals=7,
        step=1e-4,
    )
    eval_fraction: float = setting(
        0.2,
        label="Held-out share",
        help="Share of pairs held out to measure accuracy and pick the best epoch.",
        minimum=0.0,
        maximum=0.9,
        decimals=2,
        step=0.05,
        min_text="none",
    )
    patience: int = setting(
        2,
        label="Patience (epochs)",
        help="Epochs without held-out improvement before early stopping.",
        minimum=1,
        maximum=1000,
    )
    max_length: int = setting(
        128,
        label="Max length",
        help="Tokens per prompt + response; longer ones are cut from the left.",
        minimum=8,
        maximum=32768,
    )
    seed: int = setting(
        0,
        label="Seed",
        help="Seed of the split, the shuffling and the head's initialisation.",
        minimum=0,
        maximum=2**31 - 1,
    )
    gradient_checkpointing: bool = as_in(
        PPOConfig,
        "gradient_checkpointing",
        help="Keep only each layer's input in the forward pass and recompute the rest in the "
        "backward pass: far less activation memory (long texts, large batches, real-size "
        "backbones) for roughly a third more training time. Off by default: the demo "
        "backbone fits easily.",
    )
