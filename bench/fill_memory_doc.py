"""Write the planner's tables into docs/memory.md between their markers.

python -m bench.fill_memory_doc [results.json]   # results: bench.memory --json-out
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

from bench.memory import print_bench_table, print_planner_table
from bench.memory_fits import fits_table, published_comparison

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "memory.md"


def fill(text: str, marker: str, table: str) -> str:
    """`text` with the part between <!-- marker --> and <!-- /marker --> replaced."""
    pattern = re.compile(rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + table.rstrip("\n") + "\n" + m.group(2), text)


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    text = fill(text, "fits", fits_table())
    text = fill(text, "published", published_comparison())
    if argv:
        text = fill(text, "measured", _printed(print_planner_table, argv[0]))
    DOC.write_text(text, encoding="utf-8")
    if len(argv) > 1:
        bench = DOCS / "benchmarks.md"
        table = _printed(print_bench_table, argv[1])
        bench.write_text(fill(bench.read_text(encoding="utf-8"), "qwen-bench", table), "utf-8")
    return 0


def _printed(printer, results_file: str) -> str:
    """What `printer` prints for the results in `results_file`."""
    results = json.loads(Path(results_file).read_text(encoding="utf-8"))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        printer(results)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
