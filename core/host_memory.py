"""Freed tensor memory goes back to the system at once on the CPU (glibc only).

glibc serves a block of 128 KiB or more with its own mmap and unmaps it on free, but the
first time such a block is freed it raises that threshold to the block's size (up to 32
MiB). After a training step has freed its first activations, every later layer-sized
tensor comes from the heap instead, and freed heap memory stays resident: measured on a
Qwen2.5-0.5B-shaped PPO step, about 1.1 GiB of freed update tensors stayed resident and
the next phase's tensors did not fit in it (docs/memory.md). Fixing the threshold at
glibc's own starting value keeps every large tensor in a mapping of its own, so a phase's
resident peak is its live tensors. The cost is a page fault per fresh page of a large
tensor: under 2% of a step's time measured (docs/benchmarks.md).

Applied once per process, when a model is loaded on the CPU. A user's own
MALLOC_MMAP_THRESHOLD_ (or any glibc tunable for it) wins: then nothing is changed.
Elsewhere (macOS, Windows, musl) it does nothing; with another malloc preloaded it sets
glibc's unused one.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number for the mmap threshold (glibc's malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's default threshold, kept fixed instead of letting it climb."""

_state = {"applied": False, "disabled": False}


def release_freed_memory_promptly() -> bool:
    """Fix glibc's mmap threshold (once); True when this call or an earlier one did."""
    if _state["applied"]:
        return True
    if _state["disabled"] or not _glibc_mallopt_applies():
        return False
    libc = ctypes.CDLL(None)
    _state["applied"] = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    return _state["applied"]


def keep_glibc_default() -> None:
    """Leave glibc's dynamic threshold alone in this process (for measuring it: bench/memory.py)."""
    _state["disabled"] = True


def _glibc_mallopt_applies() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    user_set = "MALLOC_MMAP_THRESHOLD_" in os.environ or (
        "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")
    )
    if user_set:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (absent outside glibc, e.g. musl)
        return hasattr(libc, "mallopt")
    except (OSError, AttributeError):
        return False
