"""PPO checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a folder `<checkpoint_dir>/step-<N>/` holding
    adapter/                  the LoRA adapter as a standard PEFT folder (loads anywhere)
    value_head.safetensors    the critic
    trainer_state.pt          optimiser, LR schedule, KL controller, RNG states, prompt order
    ppo_config.json           the run's PPOConfig
    meta.json                 step, run id, model name, prompt format, time (no torch needed)
It is written into a temporary folder first and renamed into place, so a crash while
saving never leaves a half-written `step-<N>` behind.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import PPOConfig, load_json, save_json
from core.errors import TrainingError
from core.ppo.layout import ADAPTER_DIR, CONFIG_FILE, META_FILE, PREFIX, TRAINER_STATE_FILE
from core.ppo.value_head import VALUE_HEAD_FILE

FORMAT_VERSION = 1


def capture_rng_state() -> dict[str, Any]:
    """The torch, numpy, Python and CUDA random states, as data torch.load(weights_only) reads."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the random states saved by `capture_rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {
                "key": numpy_state["key"].numpy().astype(np.uint32),
                "pos": numpy_state["pos"],
            },
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """random.setstate wants tuples all the way down; a round trip may give lists."""
    return tuple(_as_tuple(item) for item in value) if isinstance(value, list | tuple) else value


def write_checkpoint(
    checkpoint_dir: Path,
    step: int,
    *,
    save_adapter: Any,
    value_head: Any,
    trainer_state: dict[str, Any],
    config: PPOConfig,
    meta: dict[str, Any],
) -> Path:
    """Write `checkpoint_dir/step-<step>` atomically and return it.

    `save_adapter(folder)` writes the PEFT folder (ModelSession.save_adapter);
    `value_head.save(path)` writes the critic. An existing folder for the same step is
    replaced only once the new one is complete.
    """
    checkpoint_dir = Path(checkpoint_dir)
    final = checkpoint_dir / f"{PREFIX}{step}"
    temporary = checkpoint_dir / f".{PREFIX}{step}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir(parents=True)
        save_adapter(temporary / ADAPTER_DIR)
        value_head.save(temporary / VALUE_HEAD_FILE)
        torch.save({"format": FORMAT_VERSION, **trainer_state}, temporary / TRAINER_STATE_FILE)
        save_json(config, temporary / CONFIG_FILE)
        meta = {"format": FORMAT_VERSION, "step": step, "time": time.time(), **meta}
        (temporary / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _replace_folder(temporary, final)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise TrainingError(
            f"Cannot write the checkpoint {final}: {error}. Free some disk space or choose "
            "another checkpoint folder."
        ) from error
    return final


def _replace_folder(source: Path, target: Path) -> None:
    """Rename `source` to `target`; an existing `target` is moved aside first, then deleted."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


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
            f"No PPO checkpoint in {path}: expected a step-<N> folder with meta.json. "
            "Choose a checkpoint folder written by a PPO run."
        )
    return found[-1]


def read_meta(folder: Path) -> dict[str, Any]:
    """meta.json of a checkpoint."""
    try:
        return json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise TrainingError(
            f"Cannot read {Path(folder) / META_FILE}: {error}. Resume from another checkpoint."
        ) from error


def read_config(folder: Path) -> PPOConfig:
    """The PPOConfig saved with a checkpoint."""
    return load_json(PPOConfig, Path(folder) / CONFIG_FILE)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """trainer_state.pt, loaded safely (weights_only) onto the CPU.

    RNG states must stay on the CPU (torch.set_rng_state wants a CPU ByteTensor); the
    optimiser's load_state_dict moves its own state to its parameters' device.
    """
    path = Path(folder) / TRAINER_STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:  # missing, truncated or not a torch file
        raise TrainingError(
            f"Cannot read {path}: {error}. The checkpoint is damaged; resume from another one."
        ) from error
    if state.get("format") != FORMAT_VERSION:
        raise TrainingError(
            f"{path} has format {state.get('format')}, this version reads {FORMAT_VERSION}. "
            "Resume it with the version of RLHF Studio that wrote it."
        )
    return state


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
