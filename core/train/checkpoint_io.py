"""Writing and reading the torch parts of a checkpoint, for every trainer.

`write_checkpoint` writes `step-<N>/` atomically: into a temporary folder first, renamed
into place, so a crash (or a full disk) while saving never leaves a half-written folder.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import TrainingError, pickle_refusal
from core.train.checkpoints import FORMAT_VERSION, META_FILE, PREFIX, TRAINER_STATE_FILE


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
    write_parts: Callable[[Path], None],
    trainer_state: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Write `checkpoint_dir/step-<step>` atomically and return it.

    `write_parts(folder)` writes what the trainer keeps besides its state and meta (the
    PEFT adapter folder, the run's config, a value head...). An existing folder for the
    same step is replaced only once the new one is complete.
    """
    checkpoint_dir = Path(checkpoint_dir)
    final = checkpoint_dir / f"{PREFIX}{step}"
    temporary = checkpoint_dir / f".{PREFIX}{step}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir(parents=True)
        write_parts(temporary)
        torch.save({"format": FORMAT_VERSION, **trainer_state}, temporary / TRAINER_STATE_FILE)
        meta = {"format": FORMAT_VERSION, "step": step, "time": time.time(), **meta}
        (temporary / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _replace_folder(temporary, final)
    except Exception as error:
        # torch.save reports a full disk as RuntimeError, safetensors as its own error:
        # whatever failed, no half-written folder stays behind.
        hint = _write_hint(error, folder_gone=not temporary.is_dir())
        shutil.rmtree(temporary, ignore_errors=True)
        reason = " ".join(str(error).split())  # torch's messages span lines
        raise TrainingError(f"Cannot write the checkpoint {final}: {reason}. {hint}") from error
    return final


NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
GONE = (errno.ENOENT, errno.ENOTDIR)


def _write_hint(error: BaseException, *, folder_gone: bool) -> str:
    """What to do about a failed write, by its errno where one says; torch.save reports a
    full disk and a missing folder as RuntimeErrors without one, so a folder that is gone
    is looked at too."""
    code = next((e.errno for e in _chain(error) if isinstance(e, OSError) and e.errno), None)
    if code in NOT_WRITABLE:
        return "Make the checkpoint folder writable or choose another checkpoint folder."
    if code in GONE or (code is None and folder_gone):
        return (
            "The checkpoint folder went missing while the run wrote it (removed, or its disk "
            "disconnected); check the disk or choose another checkpoint folder."
        )
    return "Free some disk space or choose another checkpoint folder."


def _chain(error: BaseException | None) -> list[BaseException]:
    """`error` and the errors it was raised from or during."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _replace_folder(source: Path, target: Path) -> None:
    """Rename `source` to `target`; an existing `target` is moved aside first, then deleted."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """trainer_state.pt, loaded safely (weights_only) onto the CPU.

    RNG states must stay on the CPU (torch.set_rng_state wants a CPU ByteTensor); the
    optimiser's load_state_dict moves its own state to its parameters' device.
    """
    path = Path(folder) / TRAINER_STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # objects weights_only refuses to build
        raise TrainingError(f"{pickle_refusal(path)}; resume from another checkpoint.") from error
    except FileNotFoundError as error:
        raise TrainingError(
            f"{path} is missing; the checkpoint is incomplete, resume from another one."
        ) from error
    except (OSError, RuntimeError, EOFError) as error:  # truncated or not a torch file
        empty = path.is_file() and path.stat().st_size == 0
        raise TrainingError(
            f"Cannot read {path}: it is "
            f"{'empty (0 bytes)' if empty else f'truncated or not a torch file ({_short(error)})'}; "
            "the checkpoint is damaged, resume from another one."
        ) from error
    if not isinstance(state, dict):
        raise TrainingError(
            f"{path} holds a {type(state).__name__}, not a trainer state; the checkpoint is "
            "damaged, resume from another one."
        )
    if state.get("format") != FORMAT_VERSION:
        raise TrainingError(
            f"{path} has format {state.get('format')}, this version reads {FORMAT_VERSION}. "
            "Resume it with the version of RLHF Studio that wrote it."
        )
    return state


def _short(error: BaseException) -> str:
    """The start of a library message (torch's run for a paragraph), or the error's type."""
    text = " ".join(str(error).split())
    return (text.split(". ")[0][:160] if text else "") or type(error).__name__
