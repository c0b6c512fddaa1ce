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

import hashlib
import inspect
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType

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
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message[0] != "score":
            return
        conn.send(call_reward(function, path, def_line, name, message[1], message[2]))


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
