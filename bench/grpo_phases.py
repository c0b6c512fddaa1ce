"""Where a GRPO (or RLOO) step's CPU time goes, ours beside TRL's, phase by phase.

    python bench/grpo_phases.py                    # the bench's defaults (demo model, GRPO)
    python bench/grpo_phases.py --algorithm rloo --model random:gpt2-small

Runs each side once in its own process, as bench/grpo_vs_trl.py does (TRL's in .venv-trl
when `make bench-venvs` built it), with timers wrapped around the functions each trainer
spends its step in: sampling, the no-grad log-prob passes of the rollout (policy and
reference), the loss's forward pass, backward, the optimiser. Process CPU seconds per phase,
summed over the run, and the calls. CPU time, not wall time: the machine's other load moves
it much less.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_prompts, quiet_libraries, side_python  # noqa: E402
from bench.grpo_sides import GroupBenchSettings, run_side  # noqa: E402

PREFIX = "PHASES "
OURS = {  # module: [(attribute path, phase)]
    "core.onpolicy.rollout": [("sample", "generate")],
    "core.onpolicy.trainer": [
        ("OnPolicyTrainer._collect", "rollout (with generate)"),
        ("OnPolicyTrainer._score", "rollout (with generate)"),
    ],
    "core.grpo.trainer": [("forward_response", "loss forward")],
}
TRL = {
    "trl.trainer.{alg}_trainer": [
        ("{Alg}Trainer._generate", "generate"),
        ("{Alg}Trainer._generate_and_score_completions", "rollout (with generate)"),
        ("{Alg}Trainer.compute_loss", "loss forward"),
    ],
}
"""The same phases on both sides: the rollout is sampling, scoring and the no-grad log-prob
passes (policy before the updates, reference); the loss forward is the update's pass."""
SIZES = {"steps": 8, "batch-size": 16, "group-size": 4, "mini-batch-size": 8, "epochs": 2,
         "max-new-tokens": 24}  # fmt: skip
"""bench/grpo_vs_trl.py's sizes and their defaults."""


def _wrap(owner, name: str, phase: str, totals: dict) -> Callable[[], None]:
    """Time `owner.name` into totals[phase]; returns what puts the original back."""
    own = vars(owner).get(name)  # None: inherited (AdamW.step may be Adam's)
    original = getattr(owner, name)  # a plain function or method: nothing static here

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            totals[phase][0] += time.process_time() - started
            totals[phase][1] += 1

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, own) if own is not None else delattr(owner, name)


def measure(side: str, settings: GroupBenchSettings) -> dict:
    """Run one side here with the phase timers on (taken off after): {"phases": {phase:
    [cpu seconds, calls]}, "samples_per_cpu_s": ...}."""
    import importlib

    import torch

    totals: dict = collections.defaultdict(lambda: [0.0, 0])
    alg = settings.algorithm
    undo = []
    try:
        for module, targets in (OURS if side == "ours" else TRL).items():
            owner_module = importlib.import_module(module.format(alg=alg))
            for path, phase in targets:
                *owners, name = path.format(Alg=alg.upper()).split(".")
                owner = functools.reduce(getattr, owners, owner_module)
                undo.append(_wrap(owner, name, phase, totals))
        undo.append(_wrap(torch.Tensor, "backward", "backward", totals))
        undo.append(_wrap(torch.optim.AdamW, "step", "optimiser step", totals))
        result = run_side(side, settings)
    finally:
        for put_back in reversed(undo):
            put_back()
    totals["whole loop"] = [result.cpu_seconds, 1]
    return {"phases": dict(totals), "samples_per_cpu_s": result.samples_per_cpu_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", choices=("grpo", "rloo"), default="grpo")
    parser.add_argument("--model", default="demo", help="as bench/grpo_vs_trl.py takes it")
    parser.add_argument("--cache-dir", type=Path)
    for flag, default in SIZES.items():
        parser.add_argument(f"--{flag}", type=int, default=default, help=f"default {default}")
    parser.add_argument("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quiet_libraries()
    if args.side:  # child: one side, one JSON line
        settings = GroupBenchSettings(
            model_dir=args.model_dir,
            algorithm=args.algorithm,
            threads=1,
            prompts=tuple(load_prompts()),
            **{flag.replace("-", "_"): getattr(args, flag.replace("-", "_")) for flag in SIZES},
        )
        print(PREFIX + json.dumps(measure(args.side, settings)), flush=True)
        return 0
    from bench.ppo_vs_trl import resolve_model
    from core.paths import data_dir

    model_dir = resolve_model(args.model, args.cache_dir or data_dir() / "bench")
    found = {}
    for side in ("ours", "trl"):
        command = [side_python(side), __file__, "--side", side, "--model-dir", model_dir]
        command += [f"--{flag}={getattr(args, flag.replace('-', '_'))}" for flag in SIZES]
        done = subprocess.run(command + ["--algorithm", args.algorithm], capture_output=True, text=True)  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
        if done.returncode or not lines:
            print(f"the {side} side failed:\n{done.stderr[-2000:]}")
            return 1
        found[side] = json.loads(lines[-1][len(PREFIX) :])
    print(f"{args.algorithm.upper()} on {args.model}: process CPU seconds per phase, one run")
    print(f"{'phase':28}{'ours':>8}{'calls':>7}{'TRL':>8}{'calls':>7}")
    phases = list(dict.fromkeys([*found["ours"]["phases"], *found["trl"]["phases"]]))
    for phase in phases:
        cells = []
        for side in ("ours", "trl"):
            cpu, calls = found[side]["phases"].get(phase, (None, None))
            cells += [f"{cpu:8.2f}" if cpu is not None else f"{'-':>8}", f"{calls or '':>7}"]
        print(f"{phase:28}{''.join(cells)}")
    ours, trl = found["ours"]["samples_per_cpu_s"], found["trl"]["samples_per_cpu_s"]
    print(f"samples/CPU-s: ours {ours:.2f}, TRL {trl:.2f}, ours/TRL {ours / trl:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
