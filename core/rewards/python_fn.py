"""A reward written by the user as a Python function in a file.

The file must define `def reward(prompts, responses) -> list[float]`: both arguments are
lists of str of the same length, and it returns one number per response. It is executed
from its source under its own module name (it shadows nothing and is not put on
sys.path), once, when the reward is built. Every failure (a syntax error, an exception,
a missing function, a wrong result) is a RewardError naming the file and the line.
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from core.errors import RewardError
from core.rewards.base import check_batch, check_scores

SIGNATURE = "def reward(prompts, responses) -> list[float]"


def _line_in_file(error: BaseException, path: Path, default: int | None = None) -> int | None:
    """The line of the innermost traceback frame inside `path` (the user's line to fix)."""
    line = default
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    return line


def _where(path: Path, line: int | None) -> str:
    return f"{path}, line {line}" if line is not None else str(path)


def _import_file(path: Path) -> ModuleType:
    """Execute the file as a fresh module; RewardError with file and line on any failure.

    Compiled from the source each time (no importlib cache, no __pycache__ beside the
    user's file), so an edit is always picked up when the reward is built again.
    """
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module = ModuleType(f"rlhf_studio_user_reward_{digest}")  # unique: shadows no real module
    module.__file__ = str(path)
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
    except SyntaxError as error:
        raise RewardError(
            f"{_where(path, error.lineno)}: syntax error ({error.msg}); fix the file."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RewardError(f"py={path}: cannot read the file ({error}).") from None
    # Registered while it runs because some code (dataclasses, pickling) looks itself up there.
    sys.modules[module.__name__] = module
    try:
        exec(code, module.__dict__)
    except Exception as error:
        sys.modules.pop(module.__name__, None)
        raise RewardError(
            f"{_where(path, _line_in_file(error, path))}: importing the reward file raised "
            f"{type(error).__name__}: {error}; fix the file."
        ) from error
    return module


class PythonFunctionReward:
    """Scores with `reward(prompts, responses)` from a user's Python file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise RewardError(
                f"py={path}: no such file; give the path to a .py file that defines {SIGNATURE}."
            )
        self.name = f"py_{self.path.stem}"
        module = _import_file(self.path)
        function = getattr(module, "reward", None)
        if function is None or not callable(function):
            found = "no `reward`" if function is None else "a `reward` that is not a function"
            raise RewardError(f"{self.path} has {found}; define {SIGNATURE} in it.")
        self._function: Callable[..., object] = function
        code = getattr(function, "__code__", None)
        self._def_line = code.co_firstlineno if code is not None else None

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """The function's scores, checked: one finite number per response."""
        check_batch(prompts, responses)
        try:
            # Copies, so a function that edits its arguments cannot change the caller's batch.
            result = self._function(list(prompts), list(responses))
        except Exception as error:
            line = _line_in_file(error, self.path, self._def_line)
            raise RewardError(
                f"{_where(self.path, line)}: reward() raised {type(error).__name__}: {error}; "
                f"fix the function."
            ) from error
        try:
            return check_scores(self.name, result, len(responses))
        except RewardError as error:
            raise RewardError(
                f"{_where(self.path, self._def_line)} (reward() defined here): {error}"
            ) from None
