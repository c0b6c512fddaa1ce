"""PPO checkpoints: the shared layout (core.train.checkpoints) plus the critic.

A PPO checkpoint `step-<N>/` holds the shared parts (adapter/, trainer_state.pt with the
optimiser, LR schedule, KL controller, RNG states and prompt order, meta.json) and
    value_head.safetensors    the critic
    ppo_config.json           the run's PPOConfig
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import PPOConfig, load_json, save_json
from core.ppo.value_head import VALUE_HEAD_FILE
from core.train.checkpoint_io import (
    capture_rng_state,
    read_trainer_state,
    restore_rng_state,
)
from core.train.checkpoint_io import write_checkpoint as write_shared_checkpoint
from core.train.checkpoints import (
    ADAPTER_DIR,
    FORMAT_VERSION,
    META_FILE,
    PREFIX,
    TRAINER_STATE_FILE,
    check_prompt_format,
    checkpoint_step,
    list_checkpoints,
    prompt_format_of,
    read_meta,
    resolve_checkpoint,
)

CONFIG_FILE = "ppo_config.json"

__all__ = [
    "ADAPTER_DIR",
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "META_FILE",
    "PREFIX",
    "TRAINER_STATE_FILE",
    "VALUE_HEAD_FILE",
    "capture_rng_state",
    "check_prompt_format",
    "checkpoint_step",
    "list_checkpoints",
    "prompt_format_of",
    "read_config",
    "read_meta",
    "read_trainer_state",
    "resolve_checkpoint",
    "restore_rng_state",
    "write_checkpoint",
]


def write_checkpoint(
    checkpoint_dir: Path,
    step: int,
    *,
    save_adapter: Callable[[Path], None],
    value_head: Any,
    trainer_state: dict[str, Any],
    config: PPOConfig,
    meta: dict[str, Any],
) -> Path:
    """Write a PPO checkpoint `checkpoint_dir/step-<step>` atomically and return it."""

    def write_parts(folder: Path) -> None:
        save_adapter(folder / ADAPTER_DIR)
        value_head.save(folder / VALUE_HEAD_FILE)
        save_json(config, folder / CONFIG_FILE)

    meta = {"algorithm": "ppo", **meta}
    return write_shared_checkpoint(
        checkpoint_dir, step, write_parts=write_parts, trainer_state=trainer_state, meta=meta
    )


def read_config(folder: Path) -> PPOConfig:
    """The PPOConfig saved with a checkpoint."""
    return load_json(PPOConfig, Path(folder) / CONFIG_FILE)
