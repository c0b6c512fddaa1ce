"""Build the demo judge once per user and reuse it, like the demo model (core.demo.cache).

It is built from the demo model (which is built first if needed) into a staging folder
and renamed into place, under an OS lock, so a killed build never looks complete and two
processes never build it at once.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from core.demo.cache import DEMO_VERSION, _exclusive_lock, _move_into_place
from core.errors import ModelLoadError
from core.paths import data_dir
from core.progress import Progress, no_progress

if TYPE_CHECKING:
    from core.judge.train import JudgeBuildConfig

DEMO_JUDGE = "demo-judge"
"""The name that selects the built-in demo judge wherever a judge model is asked for."""
JUDGE_VERSION = 2
"""Bump when the tasks or the training recipe change: users get a fresh build."""
INFO_FILE = "demo_judge.json"

_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", INFO_FILE)


def demo_judge_folder() -> Path:
    """Where the demo judge of this version (over this demo model version) lives."""
    return data_dir() / "demo-judge" / f"v{JUDGE_VERSION}-demo{DEMO_VERSION}"


def is_demo_judge_built(folder: Path | None = None) -> bool:
    """True when `folder` (default: the demo judge folder) holds a complete build."""
    folder = folder or demo_judge_folder()
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


def demo_judge_info(folder: Path | None = None) -> dict:
    """The build report saved beside the weights."""
    folder = folder or demo_judge_folder()
    return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))


def ensure_demo_judge(
    progress: Progress | None = None,
    *,
    rebuild: bool = False,
    config: JudgeBuildConfig | None = None,
) -> Path:
    """The demo judge's HF folder, built on first use (a few minutes on 2 CPU cores)."""
    from core.demo import ensure_demo_model

    folder = demo_judge_folder()
    if not rebuild and is_demo_judge_built(folder):
        return folder
    report = progress or no_progress
    demo_folder = ensure_demo_model(report)
    with _exclusive_lock(folder.parent / f"{folder.name}.lock", report):
        if not rebuild and is_demo_judge_built(folder):
            return folder
        for path in folder.parent.glob(f".{folder.name}.*"):
            shutil.rmtree(path, ignore_errors=True)  # staging folders of killed builds
        staging = folder.parent / f".{folder.name}.building-{os.getpid()}"
        from core.judge import train  # lazy: torch and transformers

        try:
            train.build_demo_judge(staging, demo_folder, config, report)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelLoadError(
                f"Could not build the demo judge in {folder.parent}: {error}. Free some disk "
                "space or set RLHF_STUDIO_HOME to a writable folder, then try again."
            ) from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if folder.exists() and not is_demo_judge_built(folder):
            shutil.rmtree(folder)
        _move_into_place(staging, folder)
    return folder
