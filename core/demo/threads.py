"""How many CPU threads the demo build uses, decided from measured step times.

More torch threads than free cores is far worse than one thread: OpenMP threads wait
for each other at every parallel region, and a descheduled one stalls the rest. On a
2-core machine with one other busy process, a 2-thread build took 795 s where a
1-thread build took 160 s. So the build times a window of steps on one thread, then
on all cores, and keeps all cores only while they are faster than one.

Thread count changes float rounding (about 1e-6), so a build is bit-reproducible for
the same thread schedule; the schedule is saved in demo_model.json.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class ThreadGovernor:
    """Picks the thread count for each optimiser step from the timings of earlier ones.

    Steps [0, window) run on one thread to measure a baseline; later steps run on
    `max_threads` for as long as each window of them beats the one-thread baseline.
    Once they do not, the build stays on one thread.
    """

    def __init__(self, max_threads: int, window: int = 8):
        self.max_threads = max(1, max_threads)
        self.window = max(2, window)
        self.single_step_seconds: float | None = None
        self.schedule: list[tuple[int, int]] = []  # (first step, threads) at each change
        self._threads = 1
        self._times: list[float] = []
        self._settled = self.max_threads == 1

    @classmethod
    def fixed(cls, threads: int) -> ThreadGovernor:
        """A governor that always answers `threads` (no measuring)."""
        governor = cls(threads)
        governor._threads = governor.max_threads
        governor._settled = True
        return governor

    def threads_for(self, step: int) -> int:
        """The thread count to use for `step` (steps are asked for in order)."""
        if not self.schedule or self.schedule[-1][1] != self._threads:
            self.schedule.append((step, self._threads))
        return self._threads

    def record(self, seconds: float) -> None:
        """Report how long the step just run took."""
        if self._settled:
            return
        self._times.append(seconds)
        if len(self._times) < self.window:
            return
        # The first step of a window pays for thread start-up and cold caches.
        mean = sum(self._times[1:]) / (len(self._times) - 1)
        self._times = []
        if self.single_step_seconds is None:
            self.single_step_seconds = mean
            self._threads = self.max_threads
        elif mean >= self.single_step_seconds:
            self._threads = 1
            self._settled = True
