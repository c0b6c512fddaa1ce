"""What the reliability guards cost: the store's open check and backup, a py=FILE call.

    python -m bench.reliability [--prompts N] [--calls N]

Prints, one line each: opening a store of N prompts (quick_check included, and again
with the file unchanged, when the check is skipped) against a plain sqlite3 connect; Store.backup() of that store; and the time per call of a trivial
py=FILE reward on 32 responses, in its worker process against the function called in
this process (the overhead of the process boundary), plus the worker's start.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.rewards.python_fn import PythonFunctionReward
from core.rewards.python_worker import load_reward
from core.store import STORE_FILENAME, Store, connection

REWARD = "def reward(prompts, responses):\n    return [len(r) / 100 for r in responses]\n"


def _median_s(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_store(folder: Path, prompts: int) -> None:
    workspace = folder / "workspace"
    with Store.open(workspace) as store:
        texts = [f"prompt {i}: " + "a review of a film " * 10 for i in range(prompts)]
        store.add_prompts(texts)
    size_mb = (workspace / STORE_FILENAME).stat().st_size / 1e6

    def plain() -> None:
        conn = sqlite3.connect(workspace / STORE_FILENAME)
        conn.execute("SELECT count(*) FROM prompts").fetchone()
        conn.close()

    def checked() -> None:
        connection._checked.clear()  # as a fresh process would
        with Store.open(workspace) as store:
            store.counts()

    def again() -> None:
        with Store.open(workspace) as store:
            store.counts()

    first, later, bare = _median_s(checked, 9), _median_s(again, 9), _median_s(plain, 9)
    print(
        f"store open ({prompts} prompts, {size_mb:.1f} MB): {1e3 * first:.1f} ms with "
        f"quick_check, {1e3 * later:.1f} ms reopened unchanged, {1e3 * bare:.1f} ms plain "
        "sqlite3 connect + count"
    )
    with Store.open(workspace) as store:
        print(f"store backup ({size_mb:.1f} MB): {1e3 * _median_s(store.backup, 5):.1f} ms")


def bench_python_reward(folder: Path, calls: int) -> None:
    path = folder / "reward.py"
    path.write_text(REWARD, encoding="utf-8")
    prompts = ["Write a review of the film:"] * 32
    responses = [f"response {i} " + "words " * 40 for i in range(32)]
    started = time.perf_counter()
    source = PythonFunctionReward(path)
    start_s = time.perf_counter() - started
    function, _ = load_reward(path)
    try:
        source.score(prompts, responses)  # warm
        worker = _median_s(lambda: source.score(prompts, responses), calls)
        direct = _median_s(lambda: function(list(prompts), list(responses)), calls)
    finally:
        source.close()
    print(
        f"py=FILE on 32 responses: {1e6 * worker:.0f} us per call in the worker, "
        f"{1e6 * direct:.0f} us in-process (overhead {1e6 * (worker - direct):.0f} us); "
        f"worker start {1e3 * start_s:.0f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        bench_store(Path(folder), args.prompts)
        bench_python_reward(Path(folder), args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
