"""Build the demo model once per user and reuse it: atomic, and one builder at a time.

The model is built into a hidden staging folder beside its final place, then renamed
into place in one step, so a build that is killed half-way never leaves a folder that
looks complete. An OS file lock (released by the OS if the process dies) makes a
second process wait for the first build instead of starting its own.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelLoadError
from core.file_lock import lock, try_lock, unlock
from core.paths import data_dir
from core.progress import Progress, no_progress

if TYPE_CHECKING:
    from core.demo.train import DemoBuildConfig

INFO_FILE = "demo_model.json"
"""How the demo model was built, beside its weights (core.demo.train writes it)."""
DEMO_VERSION = 2
"""Bump when the corpus, tokenizer or training recipe changes: users get a fresh build."""

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", INFO_FILE)


def demo_model_folder() -> Path:
    """Where the demo model of this version lives (it may not be built yet)."""
    return data_dir() / "demo-model" / f"v{DEMO_VERSION}"


def is_demo_model_built(folder: Path | None = None) -> bool:
    """True when `folder` (default: the demo model folder) holds a complete build."""
    folder = folder or demo_model_folder()
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


def demo_model_info(folder: Path | None = None) -> dict:
    """The build report saved beside the weights (corpus size, losses, build seconds...)."""
    folder = folder or demo_model_folder()
    return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))


def ensure_demo_model(
    progress: Progress | None = None,
    *,
    rebuild: bool = False,
    config: DemoBuildConfig | None = None,
) -> Path:
    """The demo model's HF folder, built on first use (about 2 minutes on 2 CPU cores).

    `rebuild` builds it again even if a complete copy exists. `config` changes the
    recipe (tests use a tiny one); the result is cached under the same folder.
    """
    folder = demo_model_folder()
    if not rebuild and is_demo_model_built(folder):
        return folder
    report = progress or no_progress
    with _exclusive_lock(folder.parent / f"{folder.name}.lock", report):
        if not rebuild and is_demo_model_built(folder):
            return folder  # another process built it while we waited for the lock
        _remove_leftovers(folder)
        staging = folder.parent / f".{folder.name}.building-{os.getpid()}"
        from core.demo import train  # lazy: the builder imports torch and transformers

        try:
            train.build_demo_model(staging, config, report)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelLoadError(
                f"Could not build the demo model in {folder.parent}: {error}. Free some disk "
                "space or set RLHF_STUDIO_HOME to a writable folder, then try again."
            ) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _move_into_place(staging, folder)
    return folder


def _remove_leftovers(folder: Path) -> None:
    """Delete staging folders of killed builds and an incomplete final folder."""
    for path in folder.parent.glob(f".{folder.name}.*"):
        shutil.rmtree(path, ignore_errors=True)
    if folder.exists() and not is_demo_model_built(folder):
        shutil.rmtree(folder)


def _move_into_place(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging`; an old copy is renamed away first, then deleted."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{os.getpid()}"
        folder.rename(old)
    staging.rename(folder)
    if old is not None:
        # A process that still maps the old weights may keep them alive on some systems.
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _exclusive_lock(path: Path, progress: Progress) -> Iterator[None]:
    """Hold an exclusive OS lock on `path`, telling `progress` when we have to wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as file:
        if not try_lock(file.fileno()):
            progress(0, 1, "waiting for another process to finish building the demo model")
            lock(file.fileno())
        try:
            yield
        finally:
            unlock(file.fileno())
