"""Frozen, typed configuration: one place for every default.

Each config round-trips through plain dicts (`to_dict` / `from_dict`) and JSON, and is
saved beside every checkpoint and in the store with every run. Values derived at run
time live in their own objects; they are never written back into a config.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from core.errors import InputFileError

DEMO_MODEL = "demo"
"""The name that selects the built-in demo model wherever a model is asked for."""


@dataclass(frozen=True)
class LoraSpec:
    """The LoRA adapter attached to a policy."""

    r: int = 16
    """Rank of the low-rank update."""
    alpha: int = 32
    """Scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.0
    """Dropout on the LoRA input; 0 because RL wants deterministic log-probs."""
    target_modules: tuple[str, ...] | None = None
    """Module names to adapt; None picks them from the architecture (models.lora_targets)."""
    seed: int = 0
    """Seed of the adapter's random initialisation, so the same settings give the same run."""


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
class PPOConfig:
    """LoRA PPO hyper-parameters. Defaults work out of the box on the demo model."""

    steps: int = 40
    """PPO steps (each: one rollout batch, then ppo_epochs of updates)."""
    batch_size: int = 32
    """Rollouts (prompt + response) per step; larger batches give steadier updates."""
    mini_batch_size: int = 16
    """Rollouts per optimiser minibatch (batch_size must be a multiple of it)."""
    gradient_accumulation_steps: int = 1
    """Minibatches whose gradients are summed before one optimiser step."""
    ppo_epochs: int = 4
    """Passes over each rollout batch."""
    learning_rate: float = 5e-4
    """AdamW learning rate for the LoRA weights and the value head (1e-5 to 1e-4 for hub models)."""
    lr_schedule: str = "constant"
    """constant | linear | cosine (decay to 0 over all steps, after warmup)."""
    warmup_steps: int = 0
    """PPO steps of linear learning-rate warmup."""
    max_grad_norm: float = 1.0
    """Gradient clipping by global norm."""
    gamma: float = 1.0
    """Discount factor for GAE."""
    lam: float = 0.95
    """GAE lambda."""
    cliprange: float = 0.2
    """PPO ratio clipping epsilon for the policy loss."""
    cliprange_value: float = 0.2
    """Clipping of the value prediction around the rollout-time value."""
    vf_coef: float = 0.1
    """Weight of the value loss in the total loss."""
    kl_mode: str = "adaptive"
    """fixed | adaptive (Ziegler et al. 2019 proportional controller)."""
    init_kl_coef: float = 0.05
    """Starting (or fixed) coefficient of the per-token KL penalty."""
    target_kl: float = 6.0
    """Adaptive mode: KL (nats per sequence) the controller steers to."""
    kl_horizon: int = 1000
    """Adaptive mode: horizon (in rollouts) of the controller; smaller reacts faster."""
    whiten_rewards: bool = False
    """Whiten the per-sequence scores across the batch before the KL penalty."""
    missing_eos_penalty: float | None = None
    """Subtracted from the score of responses that never reach EOS (None = off)."""
    max_new_tokens: int = 24
    """Response length limit during rollouts."""
    temperature: float = 1.0
    """Sampling temperature of rollouts, also used for their log-probs."""
    top_k: int = 0
    """Rollout top-k (0 = off). Off is right for PPO: log-probs must match the sampler."""
    top_p: float = 1.0
    """Rollout nucleus mass (1.0 = off)."""
    seed: int = 0
    """Seed for prompts order, sampling and initialisation."""
    checkpoint_every: int = 0
    """Save a checkpoint every N steps (0 = only at the end and at stop)."""
    samples_per_step: int = 4
    """Rollouts per step reported with the metrics (prompt, response, reward)."""
    eval_prompts: int = 0
    """Prompts held out of training (picked by the seed) that the policy answers every
    eval_every steps, to show whether what it learns carries over to prompts it never
    trained on (0 = off)."""
    eval_every: int = 5
    """Steps between held-out evaluations; the last step is always evaluated."""


@dataclass(frozen=True)
class RMConfig:
    """Bradley–Terry reward-model training."""

    base: str = DEMO_MODEL
    """Backbone: 'demo', a local folder or a hub id (a causal LM or an encoder)."""
    lora: LoraSpec = field(default_factory=LoraSpec)
    """Adapter trained on the backbone together with the scalar head."""
    epochs: int = 3
    """Most passes over the training pairs (early stopping may end sooner)."""
    batch_size: int = 8
    """Pairs per optimiser step."""
    learning_rate: float = 5e-4
    """Adam learning rate."""
    eval_fraction: float = 0.2
    """Share of pairs held out to measure accuracy."""
    patience: int = 2
    """Epochs without held-out improvement before early stopping."""
    max_length: int = 128
    """Tokens per prompt + response; longer ones are truncated from the left."""
    seed: int = 0
    """Seed for the split, the shuffling and the head's initialisation."""


ConfigT = TypeVar("ConfigT")


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
    """Rebuild a config; unknown keys are an error naming the key, missing keys take defaults."""
    if not isinstance(data, dict):
        raise InputFileError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputFileError(
            f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}. "
            f"Known settings: {', '.join(sorted(known))}."
        )
    values = {name: _coerce(cls, name, hints[name], value) for name, value in data.items()}
    return cls(**values)


def _coerce(cls: type, name: str, hint: Any, value: Any) -> Any:
    """Turn JSON data back into the field's type (nested dataclasses, tuples, int -> float);
    a value of another type is an error naming the setting, not a crash mid-run."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return from_dict(option, value)
        if typing.get_origin(option) is tuple and isinstance(value, list | tuple):
            return tuple(value)
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
    expected = " or ".join(_type_name(option) for option in options)
    raise InputFileError(
        f"{cls.__name__}: {name} must be {expected}, got {value!r}; fix it in the config file."
    )


def _type_name(option: Any) -> str:
    if option is type(None):
        return "null"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        option, getattr(option, "__name__", str(option))
    )


def save_json(config: Any, path: Path) -> None:
    """Write a config as indented JSON."""
    path.write_text(json.dumps(to_dict(config), indent=2) + "\n", encoding="utf-8")


def load_json(cls: type[ConfigT], path: Path) -> ConfigT:
    """Read a config written by save_json, with a clear error for a bad file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputFileError(f"Cannot read {cls.__name__} from {path}: {error}.") from error
    return from_dict(cls, data)
