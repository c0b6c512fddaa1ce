"""Export a trained adapter: as a PEFT adapter folder, or merged into a plain model folder.

Both take a checkpoint's step folder (`.../step-<N>/`, holding `adapter/`) or an adapter
folder itself. The GUI's Runs page and `rlhf-studio-cli export --format adapter|merged`
call these functions.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from core.adapter_files import check_adapter_folder
from core.config import ModelSpec
from core.errors import StudioError
from core.ppo.layout import ADAPTER_DIR


def adapter_folder(path: Path) -> Path:
    """The PEFT adapter folder of a checkpoint step folder, or `path` if it is one itself."""
    path = Path(path)
    inner = path / ADAPTER_DIR
    return check_adapter_folder(inner if inner.is_dir() else path)


def export_adapter(checkpoint: Path, out: Path) -> Path:
    """Copy the adapter (loadable with PeftModel.from_pretrained) to `out`."""
    source = adapter_folder(checkpoint)
    try:
        shutil.copytree(source, out, dirs_exist_ok=True)
    except OSError as error:
        raise StudioError(
            f"Could not copy the adapter to {out}: {error}. Choose a writable folder."
        ) from error
    return Path(out)


def export_merged_model(spec: ModelSpec, checkpoint: Path, out: Path) -> Path:
    """Merge the adapter into a fresh copy of the base and save a plain HF model folder.

    A separate copy, so a session in use keeps its adapter. `spec` names the base model.
    """
    import torch

    from core.models import ModelSession

    adapter = adapter_folder(checkpoint)
    copy = ModelSession.load(replace(spec, lora=None, adapter_path=str(adapter)))
    try:
        with torch.no_grad():
            merged = copy.model.merge_and_unload()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        merged.save_pretrained(out)
        copy.tokenizer.save_pretrained(out)
    finally:
        copy.unload()
    return out
