"""Every GPU figure in one call (bench/gpu_suite.sh): the GPU tests, GRPO, RLOO, DPO and PPO
against TRL, and the memory table, on a Qwen2.5-0.5B shape in bfloat16; one JSON file.

    bench/gpu_suite.sh                   # one CUDA GPU: under 8 minutes on an H100
    bench/gpu_suite.sh --dry-run         # the same steps on the CPU at tiny sizes (CI)

Writes docs/results/gpu-<date>.json (`--out` for another path): the device, the versions
(ours, and the TRL each comparison ran against), and per step its command, exit status,
wall time and every figure its bench wrote. A step that fails is recorded and the rest still
run; the exit status is 1 when any failed. The real run starts each side of each comparison
in a fresh process (as the benches do, TRL in its venv: `make bench-venvs`); the dry run
calls the benches' own code in this process, to keep it under a minute, so its figures
mean nothing: it checks that the suite still runs. TRL's PPO side is the exception: when
this Python's TRL is 1.x (no PPO trainer), it runs in .venv-trl-ppo's child process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, TRL_VENVS  # noqa: E402

MODEL = "random:qwen2.5-0.5b"
DRY_MODEL = "random:tiny"
GPU_SIZES = {
    "grpo_vs_trl": ["--algorithms", "rloo,grpo", "--steps", "4", "--batch-size", "32",
                    "--group-size", "4", "--mini-batch-size", "16", "--max-new-tokens", "64",
                    "--repeats", "2", "--bf16"],
    "dpo_vs_trl": ["--steps", "10", "--batch-size", "16", "--repeats", "2", "--bf16"],
    "ppo_vs_trl": ["--steps", "4", "--batch-size", "32", "--mini-batch-size", "16",
                   "--max-new-tokens", "64", "--repeats", "2", "--bf16"],
    "memory": ["--only", "default", "--only", "checkpointing", "--only", "chunked",
               "--only", "checkpointing+chunked"],
}  # fmt: skip
"""Sized so the whole suite (model builds included) ends within 8 minutes on one H100."""
DRY_SIZES = {
    "grpo_vs_trl": ["--algorithms", "rloo,grpo", "--steps", "1", "--batch-size", "2",
                    "--group-size", "2", "--mini-batch-size", "2", "--epochs", "1",
                    "--max-new-tokens", "2", "--repeats", "1", "--lora-r", "2"],
    "dpo_vs_trl": ["--steps", "1", "--batch-size", "2", "--samples", "2", "--repeats", "1",
                   "--lora-r", "2"],
    "ppo_vs_trl": ["--steps", "1", "--batch-size", "2", "--mini-batch-size", "2",
                   "--ppo-epochs", "1", "--max-new-tokens", "2", "--repeats", "1",
                   "--lora-r", "2"],
    "memory": ["--steps", "1", "--only", "default"],
}  # fmt: skip
"""The smallest sizes that still run every code path (one step, one minibatch): the dry run
checks that the suite runs, in well under a minute on an idle 2-core CPU."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, in-process")
    parser.add_argument("--model", help=f"default {MODEL} ({DRY_MODEL} with --dry-run)")
    parser.add_argument("--out", type=Path, help="default docs/results/gpu-<date>.json")
    parser.add_argument("--skip", action="append", default=[], help="a step to leave out")
    return parser.parse_args(argv)


def bench_argv(name: str, args, work: Path) -> list[str]:
    """A bench's flags in this suite: the model, the device, the sizes, its JSON output."""
    sizes = (DRY_SIZES if args.dry_run else GPU_SIZES)[name]
    device = "cpu" if args.dry_run else "cuda"
    model = args.model or (DRY_MODEL if args.dry_run else MODEL)
    flags = ["--model", model, "--device", device, *sizes, "--json-out", str(work / f"{name}.json")]
    if name == "memory" and args.dry_run:
        flags += ["--threads", "1"]
    return flags


def steps(args, work: Path) -> list[tuple[str, list[str], Callable[[], int] | None]]:
    """(name, the command it runs, or in the dry run the call that runs it in-process)."""
    python = sys.executable
    tests = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests"]
    if args.dry_run:  # no GPU: the GPU tests' own file collects (they would all skip)
        tests[-1:] = ["--collect-only", "tests/core/test_gpu.py"]
    out = [("gpu_tests", tests, None)]
    for name in ("grpo_vs_trl", "dpo_vs_trl", "ppo_vs_trl", "memory"):
        flags = bench_argv(name, args, work)
        script = ["-m", "bench.memory"] if name == "memory" else [f"bench/{name}.py"]
        out.append((name, [python, *script, *flags], _in_process(name, flags) if args.dry_run else None))  # fmt: skip
    return [step for step in out if step[0] not in args.skip]


def _in_process(name: str, flags: list[str]) -> Callable[[], int]:
    def call() -> int:
        if name == "grpo_vs_trl":
            from bench import grpo_vs_trl

            return grpo_vs_trl.main(flags, runner=grpo_vs_trl.run_in_process)
        if name == "dpo_vs_trl":
            from bench import dpo_vs_trl

            return dpo_vs_trl.main(flags, runner=dpo_vs_trl.run_in_process)
        if name == "ppo_vs_trl":
            from bench import ppo_vs_trl

            return ppo_vs_trl.main(flags, runner=ppo_vs_trl.run_here_or_in_venv)
        from bench import memory

        return memory.main(flags, measure_case=memory.measure_here)

    return call


def run_step(name: str, command: list[str], call: Callable[[], int] | None, work: Path) -> dict:
    """Run one step; its status, time, output's tail and the figures it wrote."""
    print(f"== {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    tail = ""
    try:
        if call is not None:
            status = call()
        else:
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
            status, tail = done.returncode, (done.stdout + done.stderr)[-4000:]
    except (Exception, SystemExit) as error:  # one step's failure leaves the others to run
        status, tail = 1, f"{type(error).__name__}: {error}"
    record = {"command": command, "status": status, "seconds": time.perf_counter() - started}
    figures = work / f"{name}.json"
    if figures.is_file():
        record["figures"] = json.loads(figures.read_text())
    if tail:
        record["output_tail"] = tail
    print(f"   {name}: exit {status}, {record['seconds']:.0f} s", flush=True)
    return record


def versions() -> dict:
    """Ours, and those of each TRL venv that `make bench-venvs` built."""
    from bench.ppo_vs_trl import _versions

    found = {"ours": _versions(), "python": sys.version.split()[0]}
    for name, folder in TRL_VENVS.items():
        listing = REPO / folder / "versions.txt"
        if listing.is_file():
            pins = dict(line.split("==", 1) for line in listing.read_text().split() if "==" in line)
            found[f"trl_{name}"] = {k: v for k, v in pins.items() if k.lower() in _KEPT}
    return found


_KEPT = {"torch", "transformers", "peft", "trl", "accelerate", "datasets"}


def device() -> dict:
    import torch

    from bench.common import device_name

    if torch.cuda.is_available():
        return {"name": torch.cuda.get_device_name(0), "cuda": torch.version.cuda}
    return {"name": device_name("cpu")}


def main(argv=None) -> int:
    args = parse_args(argv)
    date = datetime.date.today().isoformat()
    out = args.out or REPO / "docs" / "results" / f"gpu-{date}.json"
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("No CUDA device: run this on a GPU machine, or pass --dry-run.")
            return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as folder:
        work = Path(folder)
        results = {name: run_step(name, cmd, call, work) for name, cmd, call in steps(args, work)}
    report = {
        "date": date,
        "dry_run": args.dry_run,
        "device": device(),
        "versions": versions(),
        "seconds": time.perf_counter() - started,
        "steps": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    failed = [name for name, step in results.items() if step["status"] != 0]
    print(f"wrote {out}; {report['seconds']:.0f} s; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
