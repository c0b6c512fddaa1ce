"""Where RLHF Studio keeps its files: the user data folder, workspaces, and the layout of
one workspace. Every module that reads or writes a workspace's folders asks here.

Set RLHF_STUDIO_HOME to move everything (tests and the frozen app's self-test do).
Free of torch and Qt: the GUI imports it at start-up.

A workspace holds:

    <workspace>/checkpoints/run-<id>/step-<N>/   a PPO run's checkpoints
    <workspace>/reward_models/rm-<N>/            trained reward models, numbered from 1
    <workspace>/cache/judge.sqlite               the AI judge's persistent cache
    <workspace>/run_prompts/run-<id>.jsonl       the prompts an on-policy run trains on
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "rlhf-studio"
CHECKPOINTS_DIR = "checkpoints"
REWARD_MODELS_DIR = "reward_models"
CACHE_DIR = "cache"
RUN_PROMPTS_DIR = "run_prompts"
_REWARD_MODEL_PREFIX = "rm-"


def data_dir() -> Path:
    """The user data folder (platform-specific unless RLHF_STUDIO_HOME is set)."""
    override = os.environ.get("RLHF_STUDIO_HOME")
    path = Path(override) if override else platformdirs.user_data_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_workspace() -> Path:
    """The workspace used when none is named."""
    return data_dir() / "workspaces" / "default"


def run_checkpoint_dir(workspace: str | Path, run_id: int) -> Path:
    """Where the checkpoints of PPO run `run_id` go: `<workspace>/checkpoints/run-<id>`."""
    return Path(workspace) / CHECKPOINTS_DIR / f"run-{run_id}"


def run_prompts_file(workspace: str | Path, run_id: int) -> Path:
    """The prompts run `run_id` trains on: `<workspace>/run_prompts/run-<id>.jsonl`."""
    return Path(workspace) / RUN_PROMPTS_DIR / f"run-{run_id}.jsonl"


def reward_model_dir(workspace: str | Path, number: int) -> Path:
    """Reward model number `number`: `<workspace>/reward_models/rm-<number>`."""
    return Path(workspace) / REWARD_MODELS_DIR / f"{_REWARD_MODEL_PREFIX}{number}"


def next_reward_model_dir(workspace: str | Path) -> Path:
    """The next free reward model folder: rm-<N>, N one past the highest existing."""
    root = Path(workspace) / REWARD_MODELS_DIR
    suffixes = [p.name.removeprefix(_REWARD_MODEL_PREFIX) for p in root.glob("rm-*")]
    numbers = [int(s) for s in suffixes if s.isdigit()]
    return reward_model_dir(workspace, max(numbers, default=0) + 1)


def judge_cache_path(workspace: str | Path) -> Path:
    """The AI judge's persistent cache: `<workspace>/cache/judge.sqlite`."""
    return Path(workspace) / CACHE_DIR / "judge.sqlite"


def log_dir() -> Path:
    """The user data folder's `logs/`: third-party libraries' output and start-up errors."""
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
