"""Where RLHF Studio keeps its files: the user data folder, workspaces, caches.

Set RLHF_STUDIO_HOME to move everything (tests and the frozen app's self-test do).
"""

import os
from pathlib import Path

import platformdirs

APP_NAME = "rlhf-studio"


def data_dir() -> Path:
    """The user data folder (platform-specific unless RLHF_STUDIO_HOME is set)."""
    override = os.environ.get("RLHF_STUDIO_HOME")
    path = Path(override) if override else platformdirs.user_data_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_workspace() -> Path:
    """The workspace used when none is named."""
    return data_dir() / "workspaces" / "default"
