"""A model load's progress in words a newcomer reads: what is happening, how far, and
about how long is left, instead of core's "step 95/400 loss 1.964" (no Qt here).

core.demo reports the demo build one unit per optimiser step ("step N/M loss L"); the
model loader reports its stages by name; a build waiting on another process's lock says
so with 0 done. The time left is measured from the steps done so far.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

DEMO_STEP = re.compile(r"^step (\d+)/(\d+) loss [\d.]+$")
WAITING = "waiting for another process"
MIN_STEPS_FOR_ETA = 3
"""Steps measured before a time left is shown (the first ones include warm-up)."""

DEMO_BUILD_ESTIMATE = "about 2-4 minutes on a laptop CPU, once"
"""The demo build's time (docs/benchmarks.md: about 2 minutes on 2 free CPU cores)."""

STAGE_WORDS = {
    "generating reviews": "Writing the demo's training reviews",
    "training tokenizer": "Training the demo's tokenizer",
    "saving": "Saving the demo model",
    "done": "Demo model built; loading it",
}


class ProgressText:
    """Turns successive progress reports into one line with a percentage and time left."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int] | None = None  # (time, done) at the first step seen

    def describe(self, done: int, total: int, message: str) -> str:
        """The line to show for progress(done, total, message)."""
        if message.startswith(WAITING):
            return (
                "Another RLHF Studio window (or the CLI) is building the demo model; this "
                "one waits for it and then loads it. Cancel to stop waiting."
            )
        step = DEMO_STEP.match(message)
        if step is None:
            self._first = None
            return STAGE_WORDS.get(message, message)
        percent = 100 * done // max(total, 1)
        return f"Training the demo model: {percent}%{self._time_left(done, total)}"

    def _time_left(self, done: int, total: int) -> str:
        now = self._clock()
        if self._first is None or done < self._first[1]:
            self._first = (now, done)
            return ""
        started, first_done = self._first
        if done - first_done < MIN_STEPS_FOR_ETA or now <= started:
            return " · estimating the time left…"
        seconds = (now - started) / (done - first_done) * (total - done)
        return f" · about {format_duration(seconds)} left"


def format_duration(seconds: float) -> str:
    """'45 s', '2 min 10 s', '1 h 5 min': rounded to what a person reads."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds // 10 * 10} s" if seconds >= 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
