"""Pause, resume, stop and reward swaps for a run, asked from any thread.

The run (core.train.run.TrainingRun) is the only thing that reads these requests, and
only between steps: pausing never interrupts a step, stopping lets the run save its
final checkpoint and status, and a new reward is put in before the next step, in the
run's own thread (no other thread ever touches the live trainer).
"""

from __future__ import annotations

import threading
from typing import Protocol


class NamedReward(Protocol):
    """What core.train reads of a reward source: its name. (A core.rewards RewardSource;
    core.rewards trains reward models with core.train, so core.train cannot name it.)"""

    @property
    def name(self) -> str: ...


class RunControl:
    """Requests from the GUI thread (or a signal handler) to the thread running a run."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._lock = threading.Lock()
        self._pending_reward: NamedReward | None = None

    def pause(self) -> None:
        """Wait after the current step."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused run go on."""
        self._running.set()

    def stop(self) -> None:
        """End after the current step (a paused run wakes up to end)."""
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> None:
        """Block the run's thread until resumed or stopped."""
        self._running.wait()

    def swap_reward(self, reward: NamedReward) -> None:
        """Train against `reward` from the next step on (an AI feedback round's new RM)."""
        with self._lock:
            self._pending_reward = reward

    @property
    def pending_reward(self) -> NamedReward | None:
        """The reward asked for and not yet taken by the run (None if none)."""
        with self._lock:
            return self._pending_reward

    def take_reward(self) -> NamedReward | None:
        """The reward asked for since the last call, or None (the run's thread only)."""
        with self._lock:
            reward, self._pending_reward = self._pending_reward, None
        return reward
