"""`make bench-check`: re-run the short benchmarks and fail when a recorded ratio got worse.

    python -m bench.check                   # every bench in bench/baselines.json
    python -m bench.check --only dpo_vs_trl --baselines other.json

bench/baselines.json holds, per benchmark, the command that measured it and the ratios its
last lines printed (`<label> samples_per_s=<ratio> peak_mem=<ratio>`, docs/benchmarks.md).
Each command runs again here; a throughput ratio fails when it is more than 15% below the
recorded one, a memory ratio when it is more than 15% above it. Every figure is printed, and
the exit status is 1 when any failed (2 when a bench did not run or printed no ratio).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "bench" / "baselines.json"
TOLERANCE = 0.15
"""How much worse than recorded a ratio may come out before the check fails."""
RATIO_LINE = re.compile(
    r"^(\S+) (samples_per_s|samples_per_cpu_s)=([0-9.]+) peak_mem=([0-9.]+)\s*$"
)
HIGHER_IS_BETTER = {"samples_per_s": True, "samples_per_cpu_s": True, "peak_mem": False}
"""The figures a ratio line can carry (per CPU-second: steadier on a shared machine)."""


@dataclass(frozen=True)
class Verdict:
    """One ratio of one bench, recorded against measured."""

    bench: str
    label: str
    figure: str
    recorded: float
    measured: float

    @property
    def passed(self) -> bool:
        if HIGHER_IS_BETTER[self.figure]:
            return self.measured >= self.recorded * (1 - TOLERANCE)
        return self.measured <= self.recorded * (1 + TOLERANCE)

    def line(self) -> str:
        word = "ok" if self.passed else "WORSE"
        return (
            f"{word:5} {self.bench} {self.label} {self.figure}: {self.measured:.2f} "
            f"(recorded {self.recorded:.2f}, {self.measured / self.recorded - 1:+.0%})"
        )


def ratio_lines(output: str) -> list[dict[str, float | str]]:
    """Every `<label> samples_per_s=.. peak_mem=..` line of a bench's output, in order."""
    found = []
    for line in output.splitlines():
        match = RATIO_LINE.match(line.strip())
        if match:
            label, speed_key, speed, memory = match.groups()
            found.append({"label": label, speed_key: float(speed), "peak_mem": float(memory)})
    return found


def verdicts(name: str, recorded: list[dict], measured: list[dict]) -> list[Verdict]:
    """Recorded ratios against the measured ones, line by line (a bench may print several)."""
    if len(measured) < len(recorded):
        raise ValueError(f"{name}: printed {len(measured)} ratio lines, {len(recorded)} recorded")
    out = []
    for want, got in zip(recorded, measured, strict=False):
        for figure in HIGHER_IS_BETTER:
            if figure not in want:
                continue
            if figure not in got:
                raise ValueError(f"{name}: its ratio line '{want['label']}' has no {figure}")
            out.append(Verdict(name, want["label"], figure, want[figure], float(got[figure])))
    return out


def run_bench(entry: dict) -> str:
    """Run one recorded command from the repository root; its output (stdout)."""
    command = [sys.executable if part == "{python}" else part for part in entry["command"]]
    print("$ " + " ".join(entry["command"]), flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv=None, run=run_bench) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baselines", type=Path, default=BASELINES)
    parser.add_argument("--only", action="append", help="this bench alone (repeat for more)")
    args = parser.parse_args(argv)
    benches = json.loads(args.baselines.read_text())["benches"]
    unknown = sorted(set(args.only or ()) - set(benches))
    if unknown:
        print(f"--only: no bench {unknown} in {args.baselines}; choose from {sorted(benches)}.")
        return 2
    results, broken = [], []
    for name, entry in benches.items():
        if args.only and name not in args.only:
            continue
        try:
            found = verdicts(name, entry["ratios"], ratio_lines(run(entry)))
        except (RuntimeError, ValueError) as error:
            broken.append(name)
            print(f"FAILED {name}: {error}", flush=True)
            continue
        for verdict in found:
            print(verdict.line(), flush=True)
        results += found
    worse = [v for v in results if not v.passed]
    print(f"bench-check: {len(results) - len(worse)} ratios ok, {len(worse)} worse by more than "
          f"{TOLERANCE:.0%}, {len(broken)} benches did not run")  # fmt: skip
    return 2 if broken else 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
