"""The lowest transformers that pyproject allows loads every folder the app writes.

`make check-min-transformers` installs that version (with the huggingface-hub and
tokenizers it needs) into .min-deps/, apart from .venv, and runs this file with
RLHF_STUDIO_MIN_TRANSFORMERS pointing there. Each kind of folder (the demo model, a PPO
checkpoint's adapter, an exported adapter, a merged model, a reward model) is written by
the app here, then loaded with plain transformers/PEFT by tests/folder_probe.py in both
environments: the outputs must match. Without the variable the cross-check is skipped;
the bound itself is always checked against the Makefile's recipe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from core.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENV = "RLHF_STUDIO_MIN_TRANSFORMERS"


def pyproject_lower_bound() -> Version:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [spec] = [d for d in project["dependencies"] if re.match(r"transformers\b", d)]
    return Version(re.search(r">=\s*([\w.]+)", spec).group(1))


def makefile_version() -> Version:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return Version(re.search(r"^MIN_TRANSFORMERS\s*:?=\s*(\S+)", text, re.M).group(1))


def test_the_makefile_checks_the_lowest_transformers_pyproject_allows():
    assert makefile_version() == pyproject_lower_bound()


def _probe(folders: dict, spec: Path, pythonpath: str | None = None) -> dict:
    spec.write_text(json.dumps(folders), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "folder_probe.py"), str(spec)],
        capture_output=True, text=True, env=env, timeout=600, cwd=spec.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write_every_kind_of_folder(demo_model_dir: Path, root: Path) -> dict:
    """Folders written by the app's own commands, as a user would get them."""
    workspace = root / "ws"
    pairs = root / "pairs.jsonl"
    rows = [
        {"prompt": f"Review {i}: ", "chosen": "great fun", "rejected": "awful"} for i in range(8)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    prompts = root / "prompts.txt"
    prompts.write_text("The movie was\nThe hotel\n", encoding="utf-8")
    ws = ["--workspace", str(workspace)]
    commands = [
        ["import-pairs", str(pairs), *ws],
        ["train-rm", "--epochs", "1", "--device", "cpu", "--out", str(root / "rm"), *ws],
        ["ppo", "--prompts", str(prompts), "--steps", "1", "--batch-size", "2",
         "--mini-batch-size", "2", "--max-new-tokens", "4", "--device", "cpu", *ws],
        ["export", "--format", "adapter", "--checkpoint",
         str(workspace / "checkpoints/run-2/step-1"), "--out", str(root / "adapter"), *ws],
        ["export", "--format", "merged", "--checkpoint",
         str(workspace / "checkpoints/run-2/step-1"), "--out", str(root / "merged"), *ws],
    ]  # fmt: skip
    for argv in commands:
        assert main(argv) == 0, argv
    checkpoint_adapter = workspace / "checkpoints/run-2/step-1/adapter"
    return {
        "demo": {"kind": "causal_lm", "path": str(demo_model_dir)},
        "checkpoint_adapter": {"kind": "adapter", "path": str(checkpoint_adapter),
                               "base": str(demo_model_dir)},
        "exported_adapter": {"kind": "adapter", "path": str(root / "adapter"),
                             "base": str(demo_model_dir)},
        "merged": {"kind": "causal_lm", "path": str(root / "merged")},
        "reward_model": {"kind": "classifier", "path": str(root / "rm")},
    }  # fmt: skip


@pytest.mark.slow
def test_every_folder_the_app_writes_loads_in_the_lowest_transformers(request, tmp_path):
    target = os.environ.get(ENV)
    if not target or not Path(target).is_dir():
        pytest.skip(f"set {ENV} to a --target install of transformers {pyproject_lower_bound()}"
                    " (make check-min-transformers)")  # fmt: skip
    folders = _write_every_kind_of_folder(request.getfixturevalue("demo_model_dir"), tmp_path)
    here = _probe(folders, tmp_path / "spec.json")
    there = _probe(folders, tmp_path / "spec.json", pythonpath=target)
    assert Version(there["transformers"]) == pyproject_lower_bound()
    assert Version(here["transformers"]) > pyproject_lower_bound()  # a real cross-check
    assert set(there["outputs"]) == set(folders)
    for name, values in here["outputs"].items():
        assert there["outputs"][name] == pytest.approx(values, rel=1e-4, abs=1e-5), name
