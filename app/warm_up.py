"""Import the model libraries in a background thread once the window is up (no Qt here).

torch, transformers and peft take seconds to import, so the window is built without
them (app modules import core's heavy parts inside the jobs that need them) and the
main window starts `start_warm_up()` after its first paint. By the time someone clicks
"Load model" they are usually imported; a job that comes sooner waits for them in its
own thread (`wait_for_warm_up`), with a progress message.

Why one thread does all of it: an import holds its module's lock, so a second thread
importing the same module waits until the first is done. A job thread may wait (that
is what `wait_for_warm_up` is for); the GUI thread must never import these modules
while the warm-up runs, which is why the GUI-side modules stay torch-free
(tests/test_app_startup.py checks it).
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading

from core.progress import Progress

log = logging.getLogger("rlhf_studio.app")

WARM_UP_MODULES = (
    "torch",
    "transformers",
    "peft",
    "core.models",
    "core.generate",
    "core.ppo.trainer",
    "core.ppo.launch",
    "torch.utils.serialization",  # checkpoints: torch.save/load import it on first use
    "core.rewards.sentiment",  # VADER and its lexicon, the default PPO reward
)
"""What the first model load, generation and training step would otherwise import."""

WAITING_MESSAGE = "Loading the model libraries (torch, transformers)…"

_lock = threading.Lock()
_thread: threading.Thread | None = None
_done = threading.Event()
_torch_threads_set = False


def start_warm_up() -> None:
    """Start importing WARM_UP_MODULES in a daemon thread; later calls do nothing."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        _thread = threading.Thread(target=_warm_up, name="import-warm-up", daemon=True)
        _thread.start()


def wait_for_warm_up(progress: Progress | None = None) -> None:
    """Return once the warm-up is done (starting it if nobody has). For job threads only:
    on the GUI thread this would block the window for seconds."""
    start_warm_up()
    if _done.is_set():
        return
    if progress is not None:
        progress(0, 0, WAITING_MESSAGE)
    _done.wait()


def is_warm() -> bool:
    """Whether the warm-up has finished (successfully or not)."""
    return _done.is_set()


def configure_torch_threads() -> None:
    """Leave the GUI thread a core (once per process): torch's intra-op pool otherwise
    takes every core and a training step starves the event loop (and, oversubscribed,
    runs slower too). Threads take the new count at their first torch operation."""
    global _torch_threads_set
    import torch

    with _lock:
        if not _torch_threads_set:
            _torch_threads_set = True
            torch.set_num_threads(max(1, torch.get_num_threads() - 1))


def _warm_up() -> None:
    collecting = gc.isenabled()
    gc.disable()  # full collections over the growing heap would stall every thread meanwhile
    try:
        configure_torch_threads()  # imports torch first: set before any job uses it
        for name in WARM_UP_MODULES:
            _import(name)
    except Exception:  # the job that needs torch imports it again and reports why
        log.exception("Importing torch in the background failed")
    finally:
        freeze_long_lived_objects()
        if collecting:
            gc.enable()
        _done.set()


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:  # a broken install: the job that needs it reports it to the user
        log.exception("Importing %s in the background failed", name)


def freeze_long_lived_objects() -> None:
    """Exclude everything alive now (modules, classes, the window) from garbage collection.

    The libraries leave ~400,000 objects tracked, and a full collection walks them all with
    the GIL held: measured 0.8 s on 2 CPU cores, so whichever thread triggered it (a model
    load, a training step, unloading a model) froze the GUI thread that long. Objects made
    later (models, a run's data) are still collected. Called before any model is loaded:
    jobs wait for the warm-up, so no model is frozen in place. (No collection first: it
    would take those 0.8 s; the little garbage the imports left stays, frozen.)
    """
    gc.freeze()
