"""What bringing data in and taking it out costs: import-pairs, the pairs export, and the
TensorBoard writer of --report-to.

    python -m bench.interop [--pairs N] [--steps N]

Prints, one line each: importing a TRL pairs JSONL of N rows into a fresh workspace (one
transaction), importing it again (every row a duplicate), exporting the N pairs, and the
time per step of logging a PPO step's metrics (the keys of core.ppo.metrics) to a
TensorBoard event file, with the file's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from core.data.preference_import import import_pairs
from core.export.ratings import export_pairs
from core.ppo.metrics import EXTRA_KEYS, REQUIRED_KEYS
from core.store import Store
from core.train.reporting import TensorBoardReporter


def _timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def bench_pairs(folder: Path, n: int) -> None:
    source = folder / "pairs.jsonl"
    with source.open("w", encoding="utf-8") as file:
        for i in range(n):
            row = {"prompt": f"Review number {i}:", "chosen": f" great, truly {i}.",
                   "rejected": f" awful, sadly {i}.", "margin": 1.0}  # fmt: skip
            file.write(json.dumps(row) + "\n")
    with Store.open(folder / "workspace") as store:
        seconds, report = _timed(lambda: import_pairs(store, source, rater="bench"))
        print(f"import-pairs {report.imported} rows: {seconds:.2f} s ({n / seconds:,.0f} rows/s)")
        seconds, report = _timed(lambda: import_pairs(store, source, rater="bench"))
        print(f"import-pairs again ({report.duplicates} duplicates): {seconds:.2f} s")
        seconds, report = _timed(lambda: export_pairs(store, folder / "out.jsonl"))
        print(f"export pairs {report.written} rows: {seconds:.2f} s ({n / seconds:,.0f} rows/s)")


def bench_tensorboard(folder: Path, steps: int) -> None:
    keys = sorted((set(REQUIRED_KEYS) | set(EXTRA_KEYS)) - {"step"})
    writer = TensorBoardReporter(folder / "tb")
    times = []
    for step in range(1, steps + 1):
        metrics = {key: step * 0.001 + index for index, key in enumerate(keys)}
        started = time.perf_counter()
        writer.log(step, metrics)
        times.append(time.perf_counter() - started)
    writer.close()
    size = writer.path.stat().st_size
    print(
        f"tensorboard log of {len(keys)} metrics: {1000 * statistics.median(times):.2f} ms per "
        f"step (median of {steps}), {size / steps:,.0f} bytes per step"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        bench_pairs(Path(folder), args.pairs)
        bench_tensorboard(Path(folder), args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
