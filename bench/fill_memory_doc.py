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

from bench.memory import print_planner_table
from bench.memory_fits import fits_table, published_comparison

DOC = Path(__file__).resolve().parents[1] / "docs" / "memory.md"


def fill(text: str, marker: str, table: str) -> str:
    """`text` with the part between <!-- marker --> and <!-- /marker --> replaced."""
    pattern = re.compile(rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + table.rstrip("\n") + "\n" + m.group(2), text)


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    text = fill(text, "fits", fits_table())
    text = fill(text, "published", published_comparison())
    if argv:
        results = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            print_planner_table(results)
        text = fill(text, "measured", buffer.getvalue())
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
