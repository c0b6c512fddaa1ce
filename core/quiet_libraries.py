"""Third-party libraries' own output stays off the user's terminal; it goes to the log.

A one-line error must stay one line whatever bitsandbytes, kernels, transformers or torch
print on import. They print through Python's `logging` (with no handler configured, its
last-resort handler writes every warning to stderr) and through `warnings`. At start-up,
the CLI and the app call `quiet_libraries()`, which:

- sends every log record that is not the studio's own (`rlhf_studio.*`) and every Python
  warning to `<data folder>/logs/libraries.log` (rotated), where a problem report finds
  them; the studio's own records keep reaching stderr as before;
- keeps bitsandbytes and transformers from fetching and running code from the Hugging
  Face Hub (`block_hub_kernels`).

Free of torch and Qt: it must run before either is imported.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

from core.paths import log_dir

LOG_FILENAME = "libraries.log"
OWN_LOGGER = "rlhf_studio"
"""The studio's loggers are `rlhf_studio.<part>`; only theirs reach the terminal."""

_LOG_BYTES = 2 * 2**20
_LOG_BACKUPS = 2
_routed = False


def quiet_libraries(
    stderr_level: int = logging.WARNING, stderr_format: str = "%(message)s"
) -> Path | None:
    """Route third-party output to the log file (see the module docstring); returns the log
    file, or None when the data folder cannot be written (their output is then dropped).
    `stderr_level` and `stderr_format` apply to the studio's own records (the app shows its
    INFO lines with a time stamp; the CLI prints its warnings bare, as before). Idempotent."""
    global _routed
    block_hub_kernels()
    if _routed:
        return _log_file_of(logging.getLogger())
    _routed = True
    root = logging.getLogger()
    own = _CurrentStderrHandler()
    own.setLevel(stderr_level)
    own.setFormatter(logging.Formatter(stderr_format))
    own.addFilter(_is_own)
    root.addHandler(own)
    library = _library_log_handler()
    root.addHandler(library)
    root.setLevel(min(stderr_level, logging.INFO))
    logging.captureWarnings(True)  # `warnings.warn` -> the "py.warnings" logger -> the log
    return _log_file_of(root)


def block_hub_kernels() -> None:
    """Keep code from the Hugging Face Hub out of this process, unless the user opted in.

    Two libraries fetch compiled kernels from the Hub and run them, by default: bitsandbytes
    0.50+ at import on CPUs with AVX512-BF16 (through `kernels.get_kernel`; offline it
    prints two warnings instead), and transformers 5.x when a model loads (`use_kernels`
    defaults to on while `USE_HUB_KERNELS` is unset). The studio runs no code it did not
    ship or the user did not name, and both fall back to their own bundled kernels: so
    `USE_HUB_KERNELS` becomes NO and `import kernels` raises ImportError (a None entry in
    sys.modules). A user who sets `USE_HUB_KERNELS=YES` themselves keeps their choice."""
    if os.environ.get("USE_HUB_KERNELS", "").upper() in ("1", "ON", "YES", "TRUE"):
        return
    os.environ["USE_HUB_KERNELS"] = "NO"
    if "kernels" not in sys.modules:
        sys.modules["kernels"] = None  # type: ignore[assignment]


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record comes, as logging's last-resort
    handler does: a stream bound once would outlive a redirection (pytest's capture)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _is_own(record: logging.LogRecord) -> bool:
    return record.name == OWN_LOGGER or record.name.startswith(OWN_LOGGER + ".")


def _library_log_handler() -> logging.Handler:
    """A rotating file in the logs folder (created on the first record), or a handler that
    drops records when that folder cannot be made (a read-only home)."""
    try:
        path = log_dir() / LOG_FILENAME
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=_LOG_BYTES, backupCount=_LOG_BACKUPS, encoding="utf-8", delay=True
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(lambda record: not _is_own(record))
    return handler


def _log_file_of(root: logging.Logger) -> Path | None:
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None
