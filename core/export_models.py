"""Export a trained adapter: as a PEFT adapter folder, or merged into a plain model folder.

Both take a checkpoint's step folder (`.../step-<N>/`, holding `adapter/`) or an adapter
folder itself. The GUI's Runs page and `rlhf-studio-cli export --format adapter|merged`
call these functions. The target is checked (and its temporary made) before torch and
PEFT are imported, so a target that cannot be written fails at once.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from core.atomic import folder_written_atomically
from core.config import ModelSpec
from core.errors import StudioError


def adapter_folder(path: Path) -> Path:
    """The PEFT adapter folder of a checkpoint step folder, or `path` if it is one itself."""
    from core.lora import check_adapter_folder  # torch and PEFT: only once needed
    from core.ppo.checkpoint import ADAPTER_DIR

    path = Path(path)
    inner = path / ADAPTER_DIR
    return check_adapter_folder(inner if inner.is_dir() else path)


def export_adapter(checkpoint: Path, out: Path, force: bool = False) -> Path:
    """Copy the adapter (loadable with PeftModel.from_pretrained) to the folder `out`.

    Written beside `out` and moved into place when complete; an existing `out` is
    replaced only with force=True, and only if it is an earlier export.
    """
    out = Path(out)
    with folder_written_atomically(out, force, is_model_folder) as folder:
        source = adapter_folder(checkpoint)
        try:
            shutil.copytree(source, folder, dirs_exist_ok=True)
        except OSError as error:
            raise StudioError(
                f"could not copy the adapter to {out}: {error}; free disk space or choose "
                "a writable folder"
            ) from error
    return out


EXPORT_DTYPES = ("auto", "float32", "bfloat16", "float16")
"""A merged export's dtype: auto keeps the base's stored dtype (config.json)."""


def export_merged_model(
    spec: ModelSpec, checkpoint: Path, out: Path, force: bool = False, dtype: str = "auto"
) -> Path:
    """Merge the adapter into a fresh copy of the base and save a plain HF model folder.

    A separate copy, so a session in use keeps its adapter. `spec` names the base model.
    The folder appears only when complete, as in export_adapter. `dtype` 'auto' keeps the
    base's own dtype (a bfloat16 base gives a bfloat16 model, half a float32 one's size).

    The base is always reloaded unquantised (spec.quantize is ignored): merging into a
    4-bit or 8-bit base would dequantise each layer, add the update and round the sum
    again, so the merged model would carry a second rounding error. An adapter trained on
    a quantised base (QLoRA) is merged into the 16/32-bit base, as QLoRA does; its outputs
    differ from the quantised run's by the base's rounding.
    """
    out = Path(out)
    target = export_dtype(spec, dtype)  # a bad --dtype fails before anything is written
    with folder_written_atomically(out, force, is_model_folder) as folder:
        merged, tokenizer = merged_model(spec, checkpoint, target)
        _save(merged, tokenizer, folder, out)
    return out


def merged_model(spec: ModelSpec, checkpoint: Path, dtype: str):
    """(model, tokenizer): the base with the checkpoint's adapter merged in, in `dtype`
    ('float32', 'bfloat16' or 'float16'), on the CPU unless spec names a device."""
    import torch

    from core.models import ModelSession

    adapter = adapter_folder(checkpoint)
    # float16 has few CPU kernels: merge in float32 there, then round once.
    load_dtype = "float32" if dtype == "float16" else dtype
    unquantised = replace(
        spec, lora=None, adapter_path=str(adapter), quantize="none", dtype=load_dtype
    )
    copy = ModelSession.load(unquantised)
    with torch.no_grad():
        merged = copy.model.merge_and_unload()
    copy.model = None  # the merged model is the only reference left to the weights
    torch_dtype = getattr(torch, dtype)
    merged = merged.to(torch_dtype)
    merged.config.dtype = torch_dtype
    return merged, copy.tokenizer


def export_dtype(spec: ModelSpec, dtype: str) -> str:
    """The dtype a merged export is written in: `dtype`, or for 'auto' the one the base's
    config.json records (float32 when it records none)."""
    if dtype not in EXPORT_DTYPES:
        raise StudioError(f"--dtype {dtype} is unknown; use one of {', '.join(EXPORT_DTYPES)}")
    if dtype != "auto":
        return dtype
    from core.model_loading import locate, read_config_dict
    from core.models import resolve_model_path

    source, is_local = locate(resolve_model_path(spec.name_or_path))
    config = read_config_dict(source, is_local)
    stored = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    stored = stored.removeprefix("torch.")
    return stored if stored in EXPORT_DTYPES else "float32"


def trained_quantize(checkpoint: Path) -> str:
    """The quantize mode the run behind `checkpoint` loaded its base with: none for an
    adapter folder alone, or a checkpoint from before the setting."""
    from core.quantize import quantize_of
    from core.train.checkpoints import META_FILE, read_meta

    path = Path(checkpoint)
    return quantize_of(read_meta(path)) if (path / META_FILE).is_file() else "none"


def is_model_folder(folder: Path) -> bool:
    """Whether `folder` looks like an earlier model or adapter export (safe to replace)."""
    return any((folder / name).is_file() for name in ("config.json", "adapter_config.json"))


def _save(model, tokenizer, folder: Path, out: Path) -> None:
    """save_pretrained both into `folder`; any failure to write is a StudioError."""
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    except Exception as error:  # OSError, or safetensors' own error for a failed write
        raise StudioError(
            f"could not write the merged model to {out}: {type(error).__name__}: {error}; "
            "free disk space or choose a writable folder (nothing was left at the target)"
        ) from error
