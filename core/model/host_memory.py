"""The update pass's freed tensors leave the process at once on the CPU (glibc only).

glibc serves a block of 128 KiB or more with a mapping of its own, unmapped on free, but
the first time such a block is freed it raises that threshold to the block's size (up to
32 MiB). From then on a layer's activations come from the heap, and the update pass,
which frees and allocates them in ever-changing sizes (the backward pass, recomputed
layers, chunks of logits), leaves holes the next tensors do not fit in: measured on a
Qwen2.5-0.5B-shaped PPO step with gradient checkpointing and chunked log-probs, the
resident peak was 3.7 GiB where the live tensors peak at 2.5 GiB (docs/memory.md).

`update_memory_returned(device, model)` wraps an update pass: for its length, blocks of
128 KiB and more get mappings of their own again, so its resident peak is its live tensors
(2.5 GiB in that step). On exit the threshold goes back to 32 MiB, where glibc's own rule had
taken it: the rollout, whose same-sized temporaries the heap reuses well, keeps the
heap's speed, since a fresh mapping costs a page fault per 4 KiB page (about 1 GiB/s on
this project's 2-core machine). Measured (docs/benchmarks.md): the default step's peak
0.81x, its time unchanged. Holding the threshold for the whole step saved no more and
made it 4-11% slower; trimming the heap (malloc_trim) between phases saved nothing.

Only for a model whose weights take HOLD_FROM_WEIGHT_BYTES or more. A fresh mapping costs a
page fault per 4 KiB page, and that cost falls on every activation, while the arithmetic
grows with the hidden size's square: on the demo model (4 MB of weights) the hold made DPO
40% slower and GRPO 20% slower for a few MiB saved, on the Qwen2.5-0.5B shape it cost
under 3% of the step and saved 1.2 GiB; on GPT-2 small it cost DPO a sixth of its step
for 0.4 GiB. Below the size, glibc keeps its own rule in the pass too: a small model's holes
are small.

A user's own MALLOC_MMAP_THRESHOLD_ (or the glibc tunable for it) wins: then nothing is
changed. Elsewhere (a GPU run, macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt's parameter numbers (glibc's malloc.h)."""
UPDATE_MMAP_THRESHOLD = 128 * 1024
"""glibc's starting threshold, held for the update pass."""
OUTSIDE_MMAP_THRESHOLD = 32 * 2**20
"""Where glibc's dynamic threshold ends up (its maximum on 64-bit): the rest of a step."""
HOLD_FROM_WEIGHT_BYTES = 768 * 2**20
"""The smallest model (its parameters' bytes) whose update pass holds the threshold: below
it the page faults cost more speed than the heap's holes cost memory (docs/benchmarks.md,
"The update pass's heap hold"). GPT-2 small in float32 (475 MiB) is below: the hold made its
DPO step take 1.2x the CPU for a peak 0.83x of the unheld one, which is itself under TRL's.
Qwen2.5-0.5B (942 MiB in bfloat16, 1.8 GiB in float32) and SmolLM2-360M in float32 are above."""
TRIM_THRESHOLD = 2 * OUTSIDE_MMAP_THRESHOLD
"""Free heap top kept before glibc shrinks the heap: what its own rule pairs with 32 MiB
(setting the mmap threshold by hand would otherwise leave it at 128 KiB)."""

_state = {"disabled": False}


@contextlib.contextmanager
def update_memory_returned(
    device: torch.device | str, model: torch.nn.Module | None = None
) -> Iterator[None]:
    """Inside the block, on the CPU, freed large tensors leave the process at once (above),
    when `model` (a torch module; None: any size) is large enough for it to pay."""
    on_cpu = getattr(device, "type", device) == "cpu"
    libc = _glibc() if on_cpu and holds_for(model) else None
    if libc is None:
        yield
        return
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    libc.mallopt(M_MMAP_THRESHOLD, UPDATE_MMAP_THRESHOLD)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, OUTSIDE_MMAP_THRESHOLD)


def holds_for(model: torch.nn.Module | None) -> bool:
    """Whether an update pass of `model` holds the threshold (its weights' size, above)."""
    if model is None:
        return True
    return weight_bytes(model) >= HOLD_FROM_WEIGHT_BYTES


def weight_bytes(model: torch.nn.Module) -> int:
    """The bytes of a module's parameters (a 4-bit or 8-bit weight counts as stored)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def keep_glibc_default() -> None:
    """Leave glibc's allocator alone in this process (to measure it: bench/memory.py)."""
    _state["disabled"] = True


def _glibc() -> ctypes.CDLL | None:
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
