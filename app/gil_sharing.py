"""How worker threads share the interpreter with the GUI thread (no Qt here).

The GUI thread runs Python for every slot, timer, paint override and event filter of the
window, and each time it must first take the GIL from a worker. A worker running Python
bytecode (generation's loop on a small model, the PPO step's bookkeeping) keeps the GIL
until CPython's switch interval runs out: 5 ms by default, so an event-loop turn that
enters Python thirty times could wait 30 x 5 ms; a plot redraw enters it hundreds of
times (measured 10-30x slower redraws). A 0.25 ms interval bounds each wait at 0.25 ms;
it costs the worker nothing while the GUI thread sleeps (the interval only matters while
another thread asks for the GIL).

What no interval helps: a single C call that holds the GIL (json.loads of a large file,
the tokenizers library building a 150k-token vocabulary) blocks every other thread until
it returns.
"""

from __future__ import annotations

import sys

GUI_SWITCH_INTERVAL_S = 0.00025
"""The longest a thread that asks for the GIL waits for one running Python bytecode."""


def favour_the_gui_thread() -> None:
    """Shorten CPython's switch interval for a process with a window (call once the
    QApplication exists; the CLI keeps the default)."""
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
