"""Our GRPO and RLOO against TRL's GRPOTrainer and RLOOTrainer at equal settings:
throughput, peak memory, and reward and KL after the same number of steps.

    make bench-venvs                  # once: TRL's side runs in .venv-trl (the newest TRL)
    python bench/grpo_vs_trl.py       # CPU, a few minutes
    python bench/grpo_vs_trl.py --algorithms grpo --steps 20 --device cuda --batch-size 64

Built like bench/ppo_vs_trl.py: each side runs in its own child process (`--side`,
printing one JSON result line), so neither inherits the other's peak memory; the parent
alternates their order over `--repeats` runs and prints medians. Both sides train the
demo model's LoRA adapter on the same prompts with the same reward, one Python function
(VADER sentiment, bench/grpo_sides.py). RLOO's table comes first; the last line is GRPO's:

    ours/trl samples_per_s=<ratio> peak_mem=<ratio>
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    RESULT_PREFIX,
    SideResult,
    device_name,
    load_prompts,
    pick_bench_device,
    quiet_libraries,
    side_python,
)
from bench.grpo_sides import ALGORITHMS, SIDES, GroupBenchSettings, run_side  # noqa: E402
from bench.ppo_vs_trl import ROWS, _cell, ratio, resolve_model, summarise  # noqa: E402

Runner = Callable[[str, GroupBenchSettings], SideResult]
TARGETS = {"cpu": (1.2, 1.0), "cuda": (1.2, 1.0)}
"""Per device type: (least ours/trl throughput, most ours/trl peak memory) we aim for."""
FLAGS = {
    "steps": "--steps",
    "batch_size": "--batch-size",
    "group_size": "--group-size",
    "mini_batch_size": "--mini-batch-size",
    "epochs": "--epochs",
    "max_new_tokens": "--max-new-tokens",
    "temperature": "--temperature",
    "learning_rate": "--lr",
    "beta": "--beta",
    "lora_r": "--lora-r",
    "lora_alpha": "--lora-alpha",
    "seed": "--seed",
}
"""GroupBenchSettings field -> the flag a child gets it by."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--model",
        default="demo",
        help="policy: 'demo' (default), a causal-LM folder, random:<preset>",
    )
    add("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add("--algorithms", default="rloo,grpo", help="comma-separated: grpo, rloo (default both)")
    add("--steps", type=int, default=8, help="generations (training steps) per side (default 8)")
    add("--batch-size", type=int, default=16, help="completions per step (default 16)")
    add("--group-size", type=int, default=4, help="completions per prompt (default 4)")
    add("--mini-batch-size", type=int, default=8, help="completions per optimiser step (8)")
    add("--epochs", type=int, default=2, help="passes over each batch (default 2)")
    add("--max-new-tokens", type=int, default=24, help="response length (default 24)")
    add("--temperature", type=float, default=1.0)
    add("--lr", type=float, default=5e-4, help="learning rate, both sides (default 5e-4)")
    add("--beta", type=float, default=0.04, help="KL coefficient, both sides (default 0.04)")
    add("--lora-r", type=int, default=16)
    add("--lora-alpha", type=int, default=32)
    add("--seed", type=int, default=0)
    add("--bf16", action="store_true", help="policy weights in bfloat16, both sides (GPU)")
    add(
        "--kl-bias-correction",
        action="store_true",
        help="use_bias_correction_kl on both sides (GRPO; TRL 1.x's default)",
    )
    add("--repeats", type=int, default=2, help="runs per side, order alternating (default 2)")
    add("--threads", type=int, help="torch threads per side (default: 1 on CPU; 0: torch's)")
    add("--cache-dir", type=Path, help="where a random model is cached (default: data dir)")
    add("--json-out", type=Path, help="also write settings, every run and the summary here")
    add("--side", choices=SIDES, help=argparse.SUPPRESS)  # child mode: one side
    add("--algorithm", choices=ALGORITHMS, help=argparse.SUPPRESS)  # child mode
    return parser.parse_args(argv)


def settings_from_args(
    args: argparse.Namespace, model_dir: str, algorithm: str
) -> GroupBenchSettings:
    if args.batch_size % args.group_size or args.batch_size % args.mini_batch_size:
        raise SystemExit(
            f"--batch-size {args.batch_size} must be a multiple of --group-size "
            f"{args.group_size} and of --mini-batch-size {args.mini_batch_size}."
        )
    device = pick_bench_device(args.device)
    threads = args.threads if args.threads is not None else (1 if device == "cpu" else None)
    values = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in FLAGS.items()}
    values["learning_rate"] = args.lr
    return GroupBenchSettings(
        model_dir=model_dir,
        algorithm=algorithm,
        device=device,
        threads=threads or None,
        bf16=args.bf16,
        kl_bias_correction=args.kl_bias_correction,
        prompts=tuple(load_prompts()),
        **values,
    )


def child_argv(side: str, settings: GroupBenchSettings) -> list[str]:
    """The command line that runs one side with exactly these settings."""
    argv = [side_python(side), str(Path(__file__).resolve()), "--side", side]
    argv += ["--algorithm", settings.algorithm, "--model", settings.model_dir]
    argv += ["--device", settings.device, "--threads", str(settings.threads or 0)]
    for name, flag in FLAGS.items():
        argv += [flag, str(getattr(settings, name))]
    argv += ["--bf16"] if settings.bf16 else []
    return argv + (["--kl-bias-correction"] if settings.kl_bias_correction else [])


def run_in_subprocess(side: str, settings: GroupBenchSettings) -> SideResult:
    """Run one side in a fresh Python process and read its result line."""
    done = subprocess.run(child_argv(side, settings), capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SystemExit(f"The '{side}' side failed (exit {done.returncode}):\n{tail}")
    return SideResult.from_dict(json.loads(lines[-1][len(RESULT_PREFIX) :]))


def run_in_process(side: str, settings: GroupBenchSettings) -> SideResult:
    """Run one side here (tests): fast, but peak memory is then shared by both sides."""
    return run_side(side, settings)


def run_benchmark(
    settings: GroupBenchSettings, repeats: int, runner: Runner = run_in_subprocess
) -> list[SideResult]:
    """`repeats` runs per side, alternating which goes first (ours, trl, trl, ours, ...)."""
    results = []
    for repeat in range(repeats):
        for side in SIDES if repeat % 2 == 0 else tuple(reversed(SIDES)):
            print(
                f"[{settings.algorithm} {repeat + 1}/{repeats}] running {side} ...",
                file=sys.stderr,
                flush=True,
            )
            results.append(runner(side, settings))
    return results


def report(settings: GroupBenchSettings, results: list[SideResult]) -> list[str]:
    """One algorithm's table; its last line is its ratio line."""
    summary = summarise(results)
    repeats = len(results) // len(SIDES)
    name = settings.algorithm.upper()
    lines = [
        f"== {name}: ours vs TRL {name}Trainer on {settings.device} ({results[0].device_name})",
        f"steps={settings.steps} batch={settings.batch_size} group={settings.group_size} "
        f"mini_batch={settings.mini_batch_size} epochs={settings.epochs} "
        f"max_new_tokens={settings.max_new_tokens} lr={settings.learning_rate} "
        f"beta={settings.beta} lora_r={settings.lora_r} repeats={repeats} (medians)",
        "KL: per-token "
        + ("k3" if name == "GRPO" else "k1")
        + " of the rollout, before the step's updates (TRL's `kl` on a generation's first"
        " optimiser step)",
        "",
        f"{'':34}{'ours':>12}{'trl':>12}{'ours/trl':>10}",
    ]
    for label, key, style in ROWS:
        if key == "reported_samples_per_s":
            continue  # TRL's GRPO logs no throughput of its own
        value = ratio(summary, key) if not key.startswith(("reward", "kl")) else None
        cells = [_cell(summary[side][key], style) for side in SIDES]
        shown = f"{value:.2f}" if value is not None else ""
        lines.append(f"{label:34}{cells[0]:>12}{cells[1]:>12}{shown:>10}")
    speed, memory = ratio(summary, "samples_per_s"), ratio(summary, "peak_mem_bytes")
    least, most = TARGETS["cuda" if settings.device.startswith("cuda") else "cpu"]
    met = speed >= least and memory <= most
    lines += [
        "",
        f"target: samples/s ratio >= {least}, peak memory ratio <= {most}: "
        + ("met" if met else "MISSED"),
        f"ours/trl samples_per_s={speed:.2f} peak_mem={memory:.2f}",
    ]
    return lines


def main(argv: Sequence[str] | None = None, runner: Runner = run_in_subprocess) -> int:
    args = parse_args(argv)
    quiet_libraries()
    if args.side:  # child: one side, one JSON line
        result = run_side(args.side, settings_from_args(args, args.model, args.algorithm))
        print(RESULT_PREFIX + json.dumps(result.to_dict()), flush=True)
        return 0
    from core.paths import data_dir

    pick_bench_device(args.device)
    model_dir = resolve_model(args.model, args.cache_dir or data_dir() / "bench")
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if not algorithms or set(algorithms) - set(ALGORITHMS):
        raise SystemExit(f"--algorithms {args.algorithms}: use grpo, rloo or both.")
    algorithms.sort(key=lambda a: a == "grpo")  # GRPO last: its ratio line ends the output
    print(f"device: {device_name(pick_bench_device(args.device))}", file=sys.stderr)
    lines, payload = [], {}
    for algorithm in algorithms:
        settings = settings_from_args(args, model_dir, algorithm)
        results = run_benchmark(settings, args.repeats, runner)
        table = report(settings, results)
        lines += [*table, ""]
        payload[algorithm] = {
            "settings": {**dataclasses.asdict(settings), "prompts": len(settings.prompts)},
            "runs": [r.to_dict() for r in results],
            "summary": summarise(results),
            "lines": table,
        }
    if args.json_out:
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines[:-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
