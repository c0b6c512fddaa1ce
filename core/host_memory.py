"""The update pass's freed tensors leave the process at once on the CPU (glibc only).

glibc serves a block of 128 KiB or more with a mapping of its own, unmapped on free, but
the first time such a block is freed it raises that threshold to the block's size (up to
32 MiB). From then on a layer's activations come from the heap, and the update pass,
which frees and allocates them in ever-changing sizes (the backward pass, recomputed
layers, chunks of logits), leaves holes the next tensors do not fit in: measured on a
Qwen2.5-0.5B-shaped PPO step with gradient checkpointing and chunked log-probs, the
resident peak was 3.7 GiB where the live tensors peak at 2.5 GiB (docs/memory.md).

`update_memory_returned(device)` wraps an update pass: for its length, blocks of 128 KiB
and more get mappings of their own again, so its resident peak is its live tensors (2.5
GiB in that step). On exit the threshold goes back to 32 MiB, where glibc's own rule had
taken it: the rollout, whose same-sized temporaries the heap reuses well, keeps the
heap's speed, since a fresh mapping costs a page fault per 4 KiB page (about 1 GiB/s on
this project's 2-core machine). Measured (docs/benchmarks.md): the default step's peak
0.81x, its time unchanged. Holding the threshold for the whole step saved no more and
made it 4-11% slower; trimming the heap (malloc_trim) between phases saved nothing.

A user's own MALLOC_MMAP_THRESHOLD_ (or the glibc tunable for it) wins: then nothing is
changed. Elsewhere (a GPU run, macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt's parameter numbers (glibc's malloc.h)."""
UPDATE_MMAP_THRESHOLD = 128 * 1024
"""glibc's starting threshold, held for the update pass."""
OUTSIDE_MMAP_THRESHOLD = 32 * 2**20
"""Where glibc's dynamic threshold ends up (its maximum on 64-bit): the rest of a step."""
TRIM_THRESHOLD = 2 * OUTSIDE_MMAP_THRESHOLD
"""Free heap top kept before glibc shrinks the heap: what its own rule pairs with 32 MiB
(setting the mmap threshold by hand would otherwise leave it at 128 KiB)."""

_state = {"disabled": False}


@contextlib.contextmanager
def update_memory_returned(device: Any) -> Iterator[None]:
    """Inside the block, on the CPU, freed large tensors leave the process at once (above)."""
    libc = _glibc() if getattr(device, "type", device) == "cpu" else None
    if libc is None:
        yield
        return
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    libc.mallopt(M_MMAP_THRESHOLD, UPDATE_MMAP_THRESHOLD)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, OUTSIDE_MMAP_THRESHOLD)


def keep_glibc_default() -> None:
    """Leave glibc's allocator alone in this process (to measure it: bench/memory.py)."""
    _state["disabled"] = True


def _glibc() -> Any:
    """The C library when it is glibc on Linux and the user has not set the threshold."""
    if _state["disabled"] or not sys.platform.startswith("linux"):
        return None
    user_set = "MALLOC_MMAP_THRESHOLD_" in os.environ or (
        "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", "")
    )
    if user_set:
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (absent outside glibc, e.g. musl)
    except (OSError, AttributeError):
        return None
    return libc
