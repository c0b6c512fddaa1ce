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
from typing import cast

from core.atomic import folder_written_atomically
from core.config import ModelSpec
from core.errors import StudioError


def adapter_folder(path: Path) -> Path:
    """The PEFT adapter folder of a checkpoint step folder, or `path` if it is one itself."""
    from core.model.lora import check_adapter_folder  # torch and PEFT: only once needed
    from core.train.checkpoints import ADAPTER_DIR

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
    from peft import PeftModel

    from core.model.session import ModelSession

    adapter = adapter_folder(checkpoint)
    # float16 has few CPU kernels: merge in float32 there, then round once.
    load_dtype = "float32" if dtype == "float16" else dtype
    unquantised = replace(
        spec, lora=None, adapter_path=str(adapter), quantize="none", dtype=load_dtype
    )
    copy = ModelSession.load(unquantised)
    with torch.no_grad():
        merged = cast(PeftModel, copy.model).merge_and_unload()  # loaded with its adapter
    # The merged model is the only reference left to the weights (the copy is never used
    # again; ModelSession types `model` for a usable session).
    copy.model = None  # type: ignore[assignment]
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
    from core.model.loading import locate, read_config_dict
    from core.model.session import resolve_model_path

    source, is_local = locate(resolve_model_path(spec.name_or_path))
    config = read_config_dict(source, is_local)
    stored = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    stored = stored.removeprefix("torch.")
    return stored if stored in EXPORT_DTYPES else "float32"


def trained_quantize(checkpoint: Path) -> str:
    """The quantize mode the run behind `checkpoint` loaded its base with: none for an
    adapter folder alone, or a checkpoint from before the setting."""
    from core.model.quantize import quantize_of
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


def export_gguf(
    spec: ModelSpec,
    checkpoint: Path,
    out: Path,
    force: bool = False,
    gguf_type: str = "f16",
) -> Path:
    """Merge the checkpoint's adapter into its base and write one GGUF file (llama.cpp,
    LM Studio); refused in one line without the gguf package or for an architecture the
    writer does not know, before anything is loaded."""
    from core.export.gguf import check_gguf_type, import_gguf

    import_gguf()
    check_gguf_type(gguf_type)
    out = Path(out)
    _check_gguf_target(out, force)
    _check_gguf_base(spec)
    # Merged in the base's own dtype (half a float32 copy's memory); each tensor is widened
    # to float32 only as it is written, and rounded to the GGUF type once.
    merged, tokenizer = merged_model(spec, checkpoint, export_dtype(spec, "auto"))
    _write_gguf_atomically(merged, tokenizer, out, gguf_type)
    return out


OLLAMA_GGUF = "model.gguf"
MODELFILE = "Modelfile"


def export_ollama(
    spec: ModelSpec,
    checkpoint: Path,
    out: Path,
    force: bool = False,
    gguf_type: str = "f16",
) -> tuple[Path, bool]:
    """A folder for `ollama create NAME -f <out>/Modelfile`: the GGUF and a Modelfile whose
    TEMPLATE comes from the chat template. Returns (folder, whether the template converted)."""
    from core.export.gguf import check_gguf_type, import_gguf
    from core.export.ollama import modelfile

    import_gguf()
    check_gguf_type(gguf_type)
    _check_gguf_base(spec)
    out = Path(out)
    with folder_written_atomically(out, force, is_ollama_folder) as folder:
        merged, tokenizer = merged_model(spec, checkpoint, export_dtype(spec, "auto"))
        _write_gguf_atomically(merged, tokenizer, folder / OLLAMA_GGUF, gguf_type)
        text, converted = modelfile(tokenizer, OLLAMA_GGUF, _sampling_defaults(merged))
        (folder / MODELFILE).write_text(text, encoding="utf-8")
    return out, converted


def is_ollama_folder(folder: Path) -> bool:
    """Whether `folder` is an earlier Ollama export (safe to replace)."""
    return (folder / MODELFILE).is_file()


def _check_gguf_base(spec: ModelSpec) -> None:
    """An architecture the writer cannot write is refused before the model loads."""
    from core.export.gguf import check_gguf_architecture
    from core.model.loading import locate, read_config_dict
    from core.model.session import resolve_model_path

    source, is_local = locate(resolve_model_path(spec.name_or_path))
    check_gguf_architecture(str(read_config_dict(source, is_local).get("model_type")))


def _check_gguf_target(out: Path, force: bool) -> None:
    if out.is_dir():
        raise StudioError(f"{out} is a folder; name the .gguf file to write")
    if out.exists() and not force:
        raise StudioError(f"{out} exists; pass --force to replace it")
    if out.exists() and out.read_bytes()[:4] != b"GGUF":
        raise StudioError(f"{out} is not an earlier GGUF export; choose another name")
    if not out.parent.is_dir():
        raise StudioError(f"the folder {out.parent} does not exist; create it first")


def _write_gguf_atomically(model, tokenizer, out: Path, gguf_type: str) -> None:
    """Write beside `out`, then rename: a reader never sees half a file."""
    import os

    from core.atomic import temporary_sibling
    from core.export.gguf import write_gguf

    temporary = temporary_sibling(out)
    try:
        write_gguf(model, tokenizer, temporary, gguf_type)
        os.replace(temporary, out)
    except OSError as error:
        raise StudioError(
            f"could not write {out}: {error.strerror or error}; free disk space or choose a "
            "writable place"
        ) from error
    finally:
        if temporary.exists():
            temporary.unlink()


def _sampling_defaults(model) -> dict[str, float]:
    """The model's own sampling defaults (generation_config.json), else the studio's."""
    from core.config import GenerationConfig

    config = getattr(model, "generation_config", None)
    defaults = GenerationConfig()
    values = {
        "temperature": getattr(config, "temperature", None) or defaults.temperature,
        "top_p": getattr(config, "top_p", None) or defaults.top_p,
    }
    top_k = getattr(config, "top_k", None)
    if top_k:
        values["top_k"] = top_k
    return values
