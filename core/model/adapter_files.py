"""What makes a folder a PEFT adapter folder, torch-free (core/model/lora.py loads and saves them;
the GUI checks a folder on its own thread before copying it)."""

from __future__ import annotations

from pathlib import Path

from core.errors import ModelLoadError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def check_adapter_folder(folder: str | Path) -> Path:
    """`folder` as a Path if it holds a PEFT adapter, else a ModelLoadError saying why."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"Adapter folder {path} does not exist. Pass a folder saved by the studio or by "
            "PEFT's save_pretrained (it holds adapter_config.json)."
        )
    if not (path / ADAPTER_CONFIG).is_file():
        hint = (
            " It looks like a full model folder; load it as the model instead."
            if (path / "config.json").is_file()
            else ""
        )
        raise ModelLoadError(
            f"{path} is not a PEFT adapter folder: it has no {ADAPTER_CONFIG}.{hint}"
        )
    if not any((path / name).is_file() for name in ADAPTER_WEIGHTS):
        raise ModelLoadError(
            f"Adapter folder {path} has {ADAPTER_CONFIG} but no weights "
            f"({' or '.join(ADAPTER_WEIGHTS)}); save the adapter again."
        )
    return path
