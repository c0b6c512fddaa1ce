"""The workspace layout (core.paths): the one place that spells its folders."""

import subprocess
import sys

from core.paths import judge_cache_path, next_reward_model_dir, reward_model_dir, run_checkpoint_dir
from core.rewards.judge_cache import JudgeCache


def test_the_layout_of_a_workspace(tmp_path):
    assert run_checkpoint_dir(tmp_path, 3) == tmp_path / "checkpoints" / "run-3"
    assert reward_model_dir(str(tmp_path), 2) == tmp_path / "reward_models" / "rm-2"
    assert judge_cache_path(tmp_path) == tmp_path / "cache" / "judge.sqlite"


def test_the_next_reward_model_folder_is_one_past_the_highest(tmp_path):
    assert next_reward_model_dir(tmp_path) == reward_model_dir(tmp_path, 1)
    for name in ("rm-1", "rm-7", "rm-x", "other"):
        (tmp_path / "reward_models" / name).mkdir(parents=True)
    assert next_reward_model_dir(tmp_path) == reward_model_dir(tmp_path, 8)


def test_the_judge_cache_of_a_workspace_lives_at_its_path(tmp_path):
    cache = JudgeCache.for_workspace(tmp_path)
    try:
        assert cache.path == judge_cache_path(tmp_path) and cache.path.is_file()
    finally:
        cache.close()


def test_paths_import_without_torch():
    """The GUI imports core.paths at start-up: it must stay light."""
    code = "import sys, core.paths; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
