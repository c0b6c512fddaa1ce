"""The process that runs a user's `py=FILE` reward function (see core.rewards.python_fn).

`serve` is the worker's main: it imports the file, says whether that worked, then
answers score requests until told to stop or until its pipe closes. Every failure of
the user's code, `sys.exit` included, is answered as a one-line message naming the file
and line; the worker itself carries on. Only what it cannot catch (os._exit, a crash in
native code, the parent's kill on a time limit) ends it, and the parent starts another.

Two signatures are accepted. RLHF Studio's own, `reward(prompts, responses)`, is called
with the two lists as positional arguments. TRL's, `reward(prompts, completions, **kwargs)`
(or `reward(completions, **kwargs)`: any function with a `completions` parameter, or one
taking only keywords), is called as TRL calls its reward functions: by keyword, with
`completions` (and `prompts`, when it takes them) as lists of plain text, TRL's standard
format. Parameters TRL fills from dataset columns (`solution`, `ground_truth`...) have no
counterpart here: a function that requires one is refused when the file is imported.

Messages on the pipe are tuples: ("started",), ("ready", def_line), ("ok", scores),
("error", message) from the worker; ("score", prompts, responses), ("stop",) to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import TextIO

from core.errors import RewardError
from core.rewards.base import check_scores

SIGNATURE = "def reward(prompts, responses) -> list[float]"
TRL_SIGNATURE = "def reward(prompts, completions, **kwargs) -> list[float]"
_SUPPLIED = ("prompts", "completions")


def serve(path_text: str, conn: Connection) -> None:
    """Import the reward file at `path_text`, then score what arrives on `conn`."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides, and
    # stops this worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        # Its own process group: what the function forks is stopped with the worker.
        os.setpgid(0, 0)
    _keep_stdout_for_the_command(path_text)
    conn.send(("started",))
    path = Path(path_text)
    try:
        function, def_line = load_reward(path)
        function = trl_style_call(function, path, def_line) or function
    except RewardError as error:
        conn.send(("error", str(error)))
        return
    except BaseException as error:  # SystemExit or KeyboardInterrupt while importing
        conn.send(("error", f"{path}: importing the reward file {_ended_by(error)}; fix the file."))
        return
    conn.send(("ready", def_line))
    name = f"py_{path.stem}"
    warned_children = False
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        except OSError:  # the function closed the pipe's descriptor on a previous call
            os._exit(PIPE_LOST_EXIT)
        if message[0] != "score":
            return
        reply: tuple[object, ...] = call_reward(
            function, path, def_line, name, message[1], message[2]
        )
        alive = _living_children()
        if alive and not warned_children and reply[0] == "ok":
            warned_children = True
            reply = (*reply, _children_warning(path, alive))
        try:
            conn.send(reply)
        except OSError:  # EBADF: reward() closed a descriptor it did not open, our pipe's
            os._exit(PIPE_LOST_EXIT)  # quietly: the parent says what happened


PIPE_LOST_EXIT = 87
"""The worker's exit status when the user's function closed the worker's pipe."""

STDOUT_LIMIT = 64 * 1024
"""Characters of the function's printing shown (on stderr) before the rest is dropped."""


def _keep_stdout_for_the_command(path_text: str) -> None:
    """The function's prints go to stderr, capped: stdout belongs to the command (JSON
    lines, completions), and megabytes of debugging output would bury it."""
    with contextlib.suppress(OSError):
        os.dup2(2, 1)  # native writes to fd 1 (C extensions, os.write) land on stderr too
    sys.stdout = _CappedText(sys.stderr, STDOUT_LIMIT, path_text)


class _CappedText(io.TextIOBase):
    """A text stream that passes the first `limit` characters on, then drops the rest
    (saying so once)."""

    def __init__(self, target: TextIO, limit: int, path_text: str) -> None:
        self._target, self._left, self._path = target, limit, path_text

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._left > 0:
            shown = text[: self._left]
            self._target.write(shown)
            self._left -= len(shown)
            if self._left <= 0:
                self._target.write(
                    f"\nwarning: py={self._path} printed more than {STDOUT_LIMIT // 1024} KiB; "
                    "the rest of its output is dropped (print less, or write to a log file)\n"
                )
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def _living_children() -> list[int]:
    """Child processes of the worker still running (those that ended are reaped)."""
    alive: list[int] = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc/self/task").iterdir():
            children = (entry / "children").read_text().split()
            alive.extend(int(pid) for pid in children)
    if alive:
        return alive
    try:
        while True:  # no /proc: waitpid says whether a child is left, not which
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return [0]
    except ChildProcessError:
        return []


def _children_warning(path: Path, pids: list[int]) -> str:
    named = ", ".join(str(pid) for pid in pids if pid) or "unknown"
    return (
        f"py={path}: reward() left {len(pids)} process(es) running after it returned "
        f"(pid {named}); they are stopped when the command ends. Wait for what the function "
        "starts (subprocess.run, Pool as a with block)"
    )


def load_reward(path: Path) -> tuple[Callable[..., object], int | None]:
    """The file's `reward` function and the line of its `def`; RewardError if unusable."""
    module = import_file(path)
    function = getattr(module, "reward", None)
    if function is None or not callable(function):
        found = "no `reward`" if function is None else "a `reward` that is not a function"
        raise RewardError(
            f"{path} has {found}; define {SIGNATURE} (or TRL's {TRL_SIGNATURE}) in it, or "
            "name your function reward (reward = my_function)."
        )
    code = getattr(function, "__code__", None)
    return function, (code.co_firstlineno if code is not None else None)


def trl_style_call(
    function: Callable[..., object], path: Path, def_line: int | None
) -> Callable[[list[str], list[str]], object] | None:
    """A (prompts, responses) caller for a function with TRL's signature, or None when the
    function takes RLHF Studio's positional (prompts, responses); RewardError when it
    requires arguments that TRL would fill from dataset columns."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins and the like: call them as they are
        return None
    kinds = inspect.Parameter
    takes_keywords = any(p.kind is kinds.VAR_KEYWORD for p in parameters)
    positional = [
        p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    named = {p.name for p in parameters}
    var_positional = any(p.kind is kinds.VAR_POSITIONAL for p in parameters)
    if "completions" not in named and (
        len(positional) >= 2 or var_positional or not takes_keywords
    ):
        return None
    missing = [
        p.name
        for p in parameters
        if p.default is kinds.empty
        and p.name not in _SUPPLIED
        and p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY, kinds.POSITIONAL_ONLY)
    ]
    if missing:
        raise RewardError(
            f"{where(path, def_line)}: reward() requires {', '.join(missing)}, which TRL fills "
            "from dataset columns; RLHF Studio passes prompts and completions only: give "
            "them defaults or read them from **kwargs."
        )
    pass_prompts = "prompts" in named or takes_keywords

    def call(prompts: list[str], responses: list[str]) -> object:
        if pass_prompts:
            return function(prompts=prompts, completions=responses)
        return function(completions=responses)

    return call


def call_reward(
    function: Callable[..., object],
    path: Path,
    def_line: int | None,
    name: str,
    prompts: Sequence[str],
    responses: Sequence[str],
) -> tuple[str, object]:
    """("ok", checked scores) or ("error", a one-line message naming file and line)."""
    try:
        result = function(list(prompts), list(responses))
    except Exception as error:
        line = line_in_file(error, path, def_line)
        return "error", (
            f"{where(path, line)}: reward() raised {type(error).__name__}: {error}; "
            "fix the function."
        )
    except BaseException as error:  # sys.exit() and friends end the call, not the process
        line = line_in_file(error, path, def_line)
        return "error", f"{where(path, line)}: reward() {_ended_by(error)}; return the scores."
    if isinstance(result, list | tuple) and any(value is None for value in result):
        index = next(i for i, value in enumerate(result) if value is None)
        return "error", (
            f"{where(path, def_line)} (reward() defined here): reward() returned None at "
            f"index {index}; TRL lets a reward skip a sample with None, but every response "
            "needs a score here: return a number (e.g. 0.0) for it."
        )
    try:
        return "ok", check_scores(name, result, len(responses))
    except RewardError as error:
        return "error", f"{where(path, def_line)} (reward() defined here): {error}"


def _ended_by(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    return f"raised {type(error).__name__}"


def line_in_file(error: BaseException, path: Path, default: int | None = None) -> int | None:
    """The line of the innermost traceback frame inside `path` (the user's line to fix)."""
    line = default
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == path:
            line = frame.lineno
    return line


def where(path: Path, line: int | None) -> str:
    """'FILE, line N', or the file alone when the line is unknown."""
    return f"{path}, line {line}" if line is not None else str(path)


def import_file(path: Path) -> ModuleType:
    """Execute the file as a fresh module; RewardError with file and line on any failure.

    Compiled from the source each time (no importlib cache, no __pycache__ beside the
    user's file), so an edit is always picked up when the reward is built again. It runs
    under its own module name (it shadows nothing) and is not put on sys.path.
    """
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module = ModuleType(f"rlhf_studio_user_reward_{digest}")  # unique: shadows no real module
    module.__file__ = str(path)
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
    except SyntaxError as error:
        raise RewardError(
            f"{where(path, error.lineno)}: syntax error ({error.msg}); fix the file."
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
            f"{where(path, line_in_file(error, path))}: importing the reward file raised "
            f"{type(error).__name__}: {error}; fix the file."
        ) from error
    return module
