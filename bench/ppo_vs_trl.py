"""Our LoRA PPO against TRL's PPO at equal settings: throughput, peak memory, reward, KL.

    python bench/ppo_vs_trl.py                        # CPU defaults, a few minutes
    python bench/ppo_vs_trl.py --device cuda --steps 20 --batch-size 64 --mini-batch-size 16

Each side runs in its own child process (`--side ours|trl`, printing one JSON result
line), so neither inherits the other's peak memory; the parent alternates their order
over `--repeats` runs, then prints a table of medians. Both sides train the same policy
(the demo model by default) with the same reward model: a sequence classifier on the
policy's backbone fitted to VADER sentiment (bench/sentiment_rm.py), because TRL needs
its reward as such a model. The last line printed is

    ours/trl samples_per_s=<ratio> peak_mem=<ratio>

TRL is not an app dependency, and PPO left it after 0.29: TRL's side runs in
.venv-trl-ppo (`make bench-venvs`, TRL 0.29.1), or here when this interpreter has a TRL with
`trl.experimental.ppo`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    RESULT_PREFIX,
    TRL_VENVS,
    BenchSettings,
    SideResult,
    device_name,
    load_prompts,
    pick_bench_device,
    quiet_libraries,
    side_python,
)
from bench.random_models import is_random_model, random_model  # noqa: E402
from bench.sides import SIDES, run_side  # noqa: E402

Runner = Callable[[str, BenchSettings], SideResult]
TARGETS = {"cuda": (1.5, 0.6), "cpu": (1.0, 1.0)}
"""Per device type: (least ours/trl throughput, most ours/trl peak memory) we aim for."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--model",
        default="demo",
        help="policy: 'demo', a causal-LM folder, or "
        "random:gpt2-small|smollm2-360m|qwen2.5-0.5b (that shape, random weights; default demo)",
    )
    add("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add("--steps", type=int, default=8, help="PPO steps per side (default 8)")
    add("--batch-size", type=int, default=16, help="rollouts per step (default 16)")
    add("--mini-batch-size", type=int, help="rollouts per optimiser step (default batch/2)")
    add("--ppo-epochs", type=int, default=4, help="passes per rollout batch (default 4)")
    add("--max-new-tokens", type=int, default=24, help="response length (default 24)")
    add("--repeats", type=int, default=2, help="runs per side, order alternating (default 2)")
    add("--lr", type=float, default=3e-4, help="learning rate, both sides (default 3e-4)")
    add("--kl-coef", type=float, default=0.05, help="fixed KL coefficient (default 0.05)")
    add("--temperature", type=float, default=1.0)
    add("--lora-r", type=int, default=16)
    add("--lora-alpha", type=int, default=32)
    add("--bf16", action="store_true", help="policy and value weights in bfloat16 (GPU)")
    add("--samples-per-step", type=int, default=0, help="ours: extra adapter-off samples/step")
    add("--seed", type=int, default=0)
    add("--threads", type=int, help="torch threads per side (default: 1 on CPU; 0: torch's)")
    add("--cache-dir", type=Path, help="where the reward model is cached (default: data dir)")
    add("--rm-dir", help="use this reward-model folder instead of the built-in VADER one")
    add("--json-out", type=Path, help="also write settings, every run and the summary here")
    add("--side", choices=SIDES, help=argparse.SUPPRESS)  # child mode: run one side
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace, model_dir: str, rm_dir: str) -> BenchSettings:
    mini = args.mini_batch_size or max(1, args.batch_size // 2)
    if args.batch_size % mini:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of {mini}.")
    device = pick_bench_device(args.device)
    threads = args.threads
    if threads is None and device == "cpu":
        # On a small shared CPU two OpenMP threads per process spin against the other
        # load and measure the scheduler (10x slower on the 2-core dev box): use one.
        threads = 1
    return BenchSettings(
        model_dir=model_dir,
        rm_dir=rm_dir,
        device=device,
        steps=args.steps,
        batch_size=args.batch_size,
        mini_batch_size=mini,
        ppo_epochs=args.ppo_epochs,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        learning_rate=args.lr,
        kl_coef=args.kl_coef,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        bf16=args.bf16,
        samples_per_step=args.samples_per_step,
        seed=args.seed,
        threads=threads or None,
        prompts=tuple(load_prompts()),
    )


def child_argv(side: str, settings: BenchSettings) -> list[str]:
    """The command line that runs one side with exactly these settings."""
    flags = {
        "--model": settings.model_dir,
        "--rm-dir": settings.rm_dir,
        "--device": settings.device,
        "--steps": settings.steps,
        "--batch-size": settings.batch_size,
        "--mini-batch-size": settings.mini_batch_size,
        "--ppo-epochs": settings.ppo_epochs,
        "--max-new-tokens": settings.max_new_tokens,
        "--lr": settings.learning_rate,
        "--kl-coef": settings.kl_coef,
        "--temperature": settings.temperature,
        "--lora-r": settings.lora_r,
        "--lora-alpha": settings.lora_alpha,
        "--samples-per-step": settings.samples_per_step,
        "--seed": settings.seed,
        "--threads": settings.threads or 0,
    }
    argv = [side_python(side, "ppo"), str(Path(__file__).resolve()), "--side", side]
    for flag, value in flags.items():
        argv += [flag, str(value)]
    return argv + (["--bf16"] if settings.bf16 else [])


def run_in_subprocess(side: str, settings: BenchSettings) -> SideResult:
    """Run one side in a fresh Python process and read its result line."""
    done = subprocess.run(child_argv(side, settings), capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SystemExit(f"The '{side}' side failed (exit {done.returncode}):\n{tail}")
    return SideResult.from_dict(json.loads(lines[-1][len(RESULT_PREFIX) :]))


def run_in_process(side: str, settings: BenchSettings) -> SideResult:
    """Run one side here (tests): fast, but peak memory is then shared by both sides."""
    return run_side(side, settings)


def trl_ppo_here() -> bool:
    """Whether this interpreter has a TRL with a PPO trainer (0.29 and before)."""
    try:
        return importlib.util.find_spec("trl.experimental.ppo") is not None
    except ImportError:  # no trl at all, or no trl.experimental
        return False


def trl_ppo_missing() -> str | None:
    """Why TRL's PPO side cannot run, or None: it runs here (trl_ppo_here) or in the
    .venv-trl-ppo that `make bench-venvs` builds (bench.common.side_python)."""
    if trl_ppo_here() or side_python("trl", "ppo") != sys.executable:
        return None
    return (
        f"TRL's PPO side needs TRL 0.29 (the last with a PPO trainer): this Python's TRL has "
        f"none and {TRL_VENVS['ppo']} is not built; run `make bench-venvs`."
    )


def run_here_or_in_venv(side: str, settings: BenchSettings) -> SideResult:
    """Ours here; TRL's here when this interpreter has its PPO, else in .venv-trl-ppo's
    child process (tests and the GPU suite's dry run: fast, peak memory not comparable)."""
    if side == "ours" or trl_ppo_here():
        return run_side(side, settings)
    return run_in_subprocess(side, settings)


def run_benchmark(
    settings: BenchSettings, repeats: int = 1, runner: Runner = run_in_subprocess
) -> list[SideResult]:
    """`repeats` runs per side, alternating which goes first (ours, trl, trl, ours, ...)."""
    results = []
    for repeat in range(repeats):
        order = SIDES if repeat % 2 == 0 else tuple(reversed(SIDES))
        for side in order:
            print(f"[{repeat + 1}/{repeats}] running {side} ...", file=sys.stderr, flush=True)
            results.append(runner(side, settings))
    return results


# ---------------------------------------------------------------------------- summary


def summarise(results: list[SideResult]) -> dict[str, dict[str, float | None]]:
    """Per side, the median over repeats of every reported figure."""

    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    summary = {}
    for side in SIDES:
        runs = [r for r in results if r.side == side]
        summary[side] = {
            "samples_per_s": median([r.samples_per_s for r in runs]),
            "steady_samples_per_s": median([r.steady_samples_per_s for r in runs]),
            "samples_per_cpu_s": median([r.samples_per_cpu_s for r in runs]),
            "reported_samples_per_s": median([r.reported_samples_per_s for r in runs]),
            "peak_mem_bytes": median([r.peak_mem_bytes for r in runs]),
            "peak_over_baseline_bytes": median(
                [r.peak_mem_bytes - r.baseline_rss_bytes for r in runs]
            ),
            "reward_first": median([r.rewards[0] for r in runs]),
            "reward_last": median([r.rewards[-1] for r in runs]),
            "kl_last": median([r.kls[-1] for r in runs]),
            "train_seconds": median([r.train_seconds for r in runs]),
        }
    return summary


def ratio(summary: dict, key: str) -> float | None:
    ours, trl = summary["ours"][key], summary["trl"][key]
    return ours / trl if ours is not None and trl else None


ROWS = (
    ("samples/s (wall, whole loop)", "samples_per_s", "{:.2f}"),
    ("samples/s (steady, after step 1)", "steady_samples_per_s", "{:.2f}"),
    ("samples/CPU-s", "samples_per_cpu_s", "{:.2f}"),
    ("trainer's own samples/s", "reported_samples_per_s", "{:.2f}"),
    ("train wall time, s", "train_seconds", "{:.1f}"),
    ("peak memory, MiB", "peak_mem_bytes", "mib"),
    ("peak - post-import RSS, MiB", "peak_over_baseline_bytes", "mib"),
    ("reward, step 1", "reward_first", "{:+.3f}"),
    ("reward, last step", "reward_last", "{:+.3f}"),
    ("KL, last step (nats)", "kl_last", "{:+.4f}"),
)


def _cell(value: float | None, style: str) -> str:
    if value is None:
        return "-"
    return f"{value / 2**20:.0f}" if style == "mib" else style.format(value)


def report(settings: BenchSettings, results: list[SideResult]) -> list[str]:
    """The printed table; its last line is the ratio line."""
    summary = summarise(results)
    repeats = len(results) // len(SIDES)
    lines = [
        f"device: {settings.device} ({results[0].device_name})",
        f"model: {settings.model_dir}  |  reward model: {settings.rm_dir}",
        f"steps={settings.steps} batch={settings.batch_size} "
        f"mini_batch={settings.mini_batch_size} ppo_epochs={settings.ppo_epochs} "
        f"max_new_tokens={settings.max_new_tokens} lr={settings.learning_rate} "
        f"kl_coef={settings.kl_coef} lora_r={settings.lora_r} bf16={settings.bf16} "
        f"repeats={repeats} (medians)",
        "",
        f"{'':34}{'ours':>12}{'trl':>12}{'ours/trl':>10}",
    ]
    for label, key, style in ROWS:
        value = ratio(summary, key) if not key.startswith(("reward", "kl")) else None
        cells = [_cell(summary[side][key], style) for side in SIDES]
        shown = f"{value:.2f}" if value is not None else ""
        lines.append(f"{label:34}{cells[0]:>12}{cells[1]:>12}{shown:>10}")
    speed, memory = ratio(summary, "samples_per_s"), ratio(summary, "peak_mem_bytes")
    least, most = TARGETS["cuda" if settings.device.startswith("cuda") else "cpu"]
    met = speed >= least and memory <= most
    lines += [
        "",
        f"target on {settings.device}: samples/s ratio >= {least}, peak memory ratio <= {most}: "
        + ("met" if met else "MISSED"),
        f"ours/trl samples_per_s={speed:.2f} peak_mem={memory:.2f}",
    ]
    return lines


# ------------------------------------------------------------------------------- main


def resolve_model(name: str, cache_dir: Path) -> str:
    """A model folder: 'demo' is the app's demo model (built here if the app can't yet),
    'random:<preset>' a random-weight model of a hub model's shape (bench/random_models.py)."""
    if is_random_model(name):
        return str(random_model(name, cache_dir))
    if name != "demo":
        if not Path(name).is_dir():
            raise SystemExit(
                f"--model {name}: no such folder; pass a causal-LM folder, 'demo' or "
                "'random:<preset>'."
            )
        return str(Path(name).resolve())
    try:
        from core.model.session import resolve_model_path

        return resolve_model_path("demo")
    except Exception as error:  # an older checkout without ensure_demo_model
        from core.demo.train import INFO_FILE, build_demo_model

        folder = cache_dir / "demo-model"
        if not (folder / INFO_FILE).is_file():
            print(f"building the demo model in {folder} ({error})", file=sys.stderr)
            build_demo_model(folder)
        return str(folder)


def main(argv: Sequence[str] | None = None, runner: Runner = run_in_subprocess) -> int:
    args = parse_args(argv)
    quiet_libraries()
    if args.side:  # child: one side, one JSON line
        settings = settings_from_args(args, args.model, args.rm_dir)
        result = run_side(args.side, settings)
        print(RESULT_PREFIX + json.dumps(result.to_dict()), flush=True)
        return 0

    from bench.sentiment_rm import sentiment_rm
    from core.paths import data_dir

    pick_bench_device(args.device)  # fail on a missing GPU before building anything
    cache_dir = args.cache_dir or data_dir() / "bench"
    model_dir = resolve_model(args.model, cache_dir)
    rm_dir = args.rm_dir or str(sentiment_rm(Path(model_dir), cache_dir))
    settings = settings_from_args(args, model_dir, rm_dir)
    print(f"device: {device_name(settings.device)}", file=sys.stderr)
    results = run_benchmark(settings, args.repeats, runner)
    lines = report(settings, results)
    if args.json_out:
        payload = {
            "settings": settings.to_dict(),
            "runs": [r.to_dict() for r in results],
            "summary": summarise(results),
            "lines": lines,
            "versions": _versions(),
        }
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines), flush=True)
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


if __name__ == "__main__":
    sys.exit(main())
