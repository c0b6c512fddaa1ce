"""SIGTERM and SIGHUP end a command-line run as Ctrl-C would, but gently first.

A service manager or a closed terminal sends SIGTERM/SIGHUP and waits a while before
SIGKILL. The first signal asks the run to stop after the current step (final checkpoint,
status `stopped`); a second one raises KeyboardInterrupt at once, which the run records
as `interrupted`. A kill -9 cannot be caught: the run's lock (core.store.run_locks) tells
the next Store.open that its process is gone.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.train.control import RunControl

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def stop_on_termination(control: RunControl) -> Iterator[None]:
    """Within the block, a termination signal stops the run between steps (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received: list[int] = []

    def handle(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            name = signal.Signals(signum).name
            print(f"{name}: stopping after the current step (send it again to stop now)",
                  file=sys.stderr)  # fmt: skip
            control.stop()
        else:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
