"""Checkpoint folders of every trainer: their layout, and reading them without torch.

A checkpoint is a folder `<run's checkpoint folder>/step-<N>/` holding
    adapter/            the LoRA adapter as a standard PEFT folder (loads anywhere)
    trainer_state.pt    optimiser, schedule, RNG states, data order (core.train.checkpoint_io)
    <kind>_config.json  the run's config (e.g. ppo_config.json)
    meta.json           step, algorithm, run and workspace ids, model, prompt format, time
plus what an algorithm adds (PPO: value_head.safetensors). This module imports no torch,
so the GUI can list and describe checkpoints before torch is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import TrainingError

ADAPTER_DIR = "adapter"
TRAINER_STATE_FILE = "trainer_state.pt"
META_FILE = "meta.json"
PREFIX = "step-"
FORMAT_VERSION = 1


def checkpoint_step(folder: Path) -> int | None:
    """N for a folder named step-<N>, else None."""
    name = Path(folder).name
    if name.startswith(PREFIX) and name[len(PREFIX) :].isdigit():
        return int(name[len(PREFIX) :])
    return None


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The complete checkpoints under `checkpoint_dir`, oldest step first."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return []
    found = [
        path
        for path in checkpoint_dir.iterdir()
        if checkpoint_step(path) is not None and (path / META_FILE).is_file()
    ]
    return sorted(found, key=lambda path: checkpoint_step(path) or 0)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder itself, or the latest checkpoint inside a checkpoints folder."""
    path = Path(path)
    if (path / META_FILE).is_file():
        return path
    found = list_checkpoints(path)
    if not found:
        raise TrainingError(
            f"No training checkpoint in {path}: expected a step-<N> folder with meta.json. "
            "Choose a checkpoint folder written by a training run."
        )
    return found[-1]


def read_meta(folder: Path) -> dict[str, Any]:
    """meta.json of a checkpoint."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # ValueError: JSON, UTF-8
        raise TrainingError(
            f"Cannot read {path}: {error or type(error).__name__}. Resume from another checkpoint."
        ) from error
    if not isinstance(meta, dict):
        raise TrainingError(
            f"{path} holds a JSON {type(meta).__name__}, not the checkpoint's description; "
            "resume from another checkpoint."
        )
    return meta


def prompt_format_of(meta: dict[str, Any]) -> str:
    """The prompt format the checkpoint's policy was trained with (older ones: plain)."""
    return str(meta.get("prompt_format", "plain"))


def check_prompt_format(folder: Path, meta: dict[str, Any], prompt_format: str) -> None:
    """A policy trained on chat-formatted prompts must go on seeing them, and vice versa."""
    trained = prompt_format_of(meta)
    if trained != prompt_format:
        raise TrainingError(
            f"The run in {folder} was trained with the {trained} prompt format, but the model "
            f"is loaded with the {prompt_format} one. Load it with prompt format "
            f"{trained!r} (Model page, or --prompt-format {trained}) to resume this run."
        )
