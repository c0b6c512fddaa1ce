"""The perf/ metrics every trainer reports (on-policy and offline): throughput, step
time, peak memory and the number of processes (docs/metrics.md explains each key)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def perf_metrics(batch_size: int, step_time: float, device: torch.device) -> dict[str, float]:
    """Throughput (of the global batch: `batch_size` counts every process's share), wall
    time and peak memory of one step, and how many processes trained it."""
    from core.train.distributed import current_world

    return {
        "perf/samples_per_s": batch_size / step_time,
        "perf/step_time_s": step_time,
        "perf/peak_mem_bytes": float(peak_memory_bytes(device)),
        "dist/world_size": float(current_world().size),
    }


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this run's device: CUDA allocator peak, else the process's peak RSS."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource  # POSIX only

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports kilobytes, macOS bytes.
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:  # Windows: the working-set peak
        import psutil

        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
