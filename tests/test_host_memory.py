"""Freed tensors go back to the system on the CPU (core.host_memory): each case runs in a
fresh interpreter, since glibc's threshold is per process and can only be set once."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _is_glibc_linux() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except AttributeError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _is_glibc_linux(), reason="glibc's malloc (Linux) only")

PROBE = """
import json, sys
from pathlib import Path
import torch
from core.host_memory import release_freed_memory_promptly

def rss():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS"))
    return int(line.split()[1]) * 1024

how = sys.argv[1]
applied = None
if how == "call":
    applied = release_freed_memory_promptly()
elif how == "load":  # transformers is imported for this case only: it takes seconds
    from core.config import ModelSpec
    from core.models import ModelSession

    ModelSession.load(ModelSpec(name_or_path=sys.argv[2], device="cpu", lora=None))
    applied = release_freed_memory_promptly()  # already applied: says so again
big = torch.ones(4 * 2**20)
del big  # a 16 MiB free: left alone, glibc raises its mmap threshold to 16 MiB here
before = rss()
blocks = [torch.ones(2**20) for _ in range(40)]  # 40 x 4 MiB
last = blocks[-1]  # the heap's top block stays, so glibc cannot shrink the heap from the top
del blocks
print(json.dumps({"applied": applied, "retained": rss() - before}))
"""


def _probe(*argv: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_layer_sized_tensors_stay_resident_under_glibcs_own_threshold():
    """The problem itself: 160 MiB freed, still resident (this is what the fix is for)."""
    assert _probe("none")["retained"] > 120 * 2**20


def test_with_the_threshold_fixed_freed_tensors_leave_at_once():
    result = _probe("call")
    assert result["applied"] is True
    assert result["retained"] < 16 * 2**20  # the one block still alive (4 MiB) and noise


def test_loading_a_model_on_the_cpu_fixes_the_threshold(demo_model_dir):
    result = _probe("load", str(demo_model_dir))
    assert result["applied"] is True
    assert result["retained"] < 16 * 2**20


def test_a_users_own_threshold_wins():
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 2**20))  # everything on the heap
    result = _probe("call", env=env)
    assert result["applied"] is False
    assert result["retained"] > 120 * 2**20
