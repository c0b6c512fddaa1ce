"""A page's imports cut into event-loop-sized steps (run on the GUI thread, one per turn).

The pages built after the first paint import pyqtgraph and their own modules first: in one
piece with the Train page's build that was 0.3-0.4 s of the GUI thread at launch.
Importing them in another thread is no way out: PySide6 sets its types up lazily, not for
two threads at once (a test process crashed). So the imports stay on the GUI thread, cut
smaller: one module per step, dependencies first, so that each step imports little that
the steps before have not.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from functools import partial

Step = Callable[[], object]


def module_steps(modules: Sequence[str]) -> list[Step]:
    """One step per module not imported yet, in the given order."""
    return [partial(importlib.import_module, name) for name in modules if name not in sys.modules]
