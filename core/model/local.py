"""The causal language models already on this machine: the Hugging Face hub cache and the
folders the user added, each with its size, dtype and shape (no Qt, no network, no torch).

The hub cache's layout (huggingface_hub's "cache-system"):
`<cache>/models--<org>--<name>/snapshots/<revision>/config.json`, with `refs/main` naming
the revision the hub's main branch pointed at; snapshot files are symlinks into the
repo's own `blobs/`. A link that leads outside its model's folder is not followed (a
folder is data: we read what lies inside it and nothing more).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.model.shapes import ModelShape, shape_from_config

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
"""Architecture name endings of models that generate text (config.json "architectures")."""
MAX_CONFIG_BYTES = 4 * 2**20
"""A config.json larger than this is not one (read nothing more from that folder)."""


@dataclass(frozen=True)
class LocalModel:
    """One model folder found on this machine."""

    name: str
    """'org/name' for the hub cache, the folder's name for an added folder."""
    path: Path
    """The folder to load (a snapshot folder in the hub cache)."""
    source: str
    """'hub cache' or 'added'."""
    size_bytes: int
    """The weight files' size on disk."""
    dtype: str
    """The dtype config.json names ('?' when it names none)."""
    architecture: str
    shape: ModelShape | None
    """None when the memory planner cannot read this architecture."""


def hub_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub
    (huggingface_hub's own order)."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    cache_home = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def find_local_models(cache: Path | None, folders: Iterable[str | Path] = ()) -> list[LocalModel]:
    """The causal LMs in the hub cache `cache` and in `folders`, hub ones by name, then the
    added folders in their order; folders that are no causal LM are left out."""
    found = scan_hub_cache(cache) if cache is not None else []
    for folder in folders:
        model = describe_folder(Path(folder), Path(folder).name, "added")
        if model is not None:
            found.append(model)
    return found


def scan_hub_cache(cache: Path) -> list[LocalModel]:
    """Every causal LM of the hub cache at `cache`, sorted by name."""
    if not cache.is_dir():
        return []
    models = []
    for repo in sorted(cache.glob("models--*")):
        snapshot = _snapshot(repo)
        if snapshot is None:
            continue
        name = repo.name.removeprefix("models--").replace("--", "/")
        model = describe_folder(snapshot, name, "hub cache", inside=repo)
        if model is not None:
            models.append(model)
    return models


def describe_folder(
    folder: Path, name: str, source: str, inside: Path | None = None
) -> LocalModel | None:
    """`folder` as a LocalModel, or None when it holds no causal LM config. Files are read
    only where they lie inside `inside` (default: the folder itself)."""
    inside = (inside or folder).resolve()
    config = _read_config(folder / "config.json", inside)
    if config is None or not is_causal_lm(config):
        return None
    try:
        shape = shape_from_config(config)
    except Exception:  # an architecture the planner does not know: listed without a plan
        shape = None
    architectures = config.get("architectures") or [config.get("model_type", "?")]
    return LocalModel(
        name=name,
        path=folder,
        source=source,
        size_bytes=weights_size(folder, inside),
        dtype=str(config.get("torch_dtype") or config.get("dtype") or "?"),
        architecture=str(architectures[0]),
        shape=shape,
    )


def is_causal_lm(config: dict) -> bool:
    """Whether config.json describes a model that generates text."""
    architectures = config.get("architectures")
    if not isinstance(architectures, list):
        return False
    return any(str(name).endswith(CAUSAL_SUFFIXES) for name in architectures)


def weights_size(folder: Path, inside: Path) -> int:
    """Bytes of the weight files in `folder` (links leading outside `inside` not counted)."""
    total = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(WEIGHT_SUFFIXES):
            continue
        target = _inside(entry, inside)
        if target is not None and target.is_file():
            total += target.stat().st_size
    return total


def _snapshot(repo: Path) -> Path | None:
    """The snapshot `refs/main` names, else the newest one."""
    snapshots = repo / "snapshots"
    main = repo / "refs" / "main"
    try:
        if main.is_file():
            revision = main.read_text(encoding="utf-8").strip()
            if revision and (snapshots / revision / "config.json").exists():
                return snapshots / revision
        candidates = [p for p in snapshots.iterdir() if (p / "config.json").exists()]
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def _read_config(path: Path, inside: Path) -> dict | None:
    target = _inside(path, inside)
    if target is None or not target.is_file() or target.stat().st_size > MAX_CONFIG_BYTES:
        return None
    try:
        config = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _inside(path: Path, inside: Path) -> Path | None:
    """`path` resolved, if it stays inside `inside` (else None: the link is not followed)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(inside) else None
