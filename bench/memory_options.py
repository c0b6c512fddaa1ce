"""Peak memory and time of one PPO step with the memory options off and on.

    python bench/memory_options.py                           # random:gpt2-small on the CPU
    python bench/memory_options.py --model random:smollm2-360m --batch-size 8

Four variants of the same step (same model, prompts, seed and settings): the default,
gradient checkpointing (`gradient_checkpointing`), chunked logits (`logits_chunk_size`)
and both. Each runs in its own child process (`--variant NAME`, printing one JSON line),
so a variant's peak is its own: on the CPU the process's peak RSS (ru_maxrss), on a GPU
the CUDA allocator's peak. "Step peak" is that peak minus the resident memory just before
the step (model and trainer loaded), i.e. what the step itself adds. The reward is a cheap
text rule: the benchmark measures the trainer, not a reward model. A figure, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULT_PREFIX, Meter, device_name, load_prompts, quiet_libraries  # noqa: E402
from bench.random_models import is_random_model, random_model  # noqa: E402

VARIANTS = {
    "default": {},
    "checkpointing": {"gradient_checkpointing": True},
    "chunked": {"logits_chunk_size": "CHUNK"},
    "both": {"gradient_checkpointing": True, "logits_chunk_size": "CHUNK"},
}


class LetterReward:
    """Share of the letter 'e' in a response: free to compute, varies between samples."""

    name = "letter_e"

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return [text.count("e") / max(1, len(text)) for text in responses]


def run_variant(args: argparse.Namespace) -> dict[str, float]:
    """One PPO step of `args.variant` in this process: its memory and times."""
    import psutil
    import torch

    from core.config import LoraSpec, ModelSpec, PPOConfig
    from core.model.session import ModelSession
    from core.ppo import PPOTrainer

    quiet_libraries()
    torch.set_num_threads(args.threads)
    meter = Meter(args.device)
    spec = ModelSpec(name_or_path=args.model_dir, device=args.device, lora=LoraSpec(r=16))
    session = ModelSession.load(spec)
    options = {
        key: args.chunk if value == "CHUNK" else value
        for key, value in VARIANTS[args.variant].items()
    }
    config = PPOConfig(
        steps=1, batch_size=args.batch_size, mini_batch_size=args.mini_batch_size,
        ppo_epochs=args.ppo_epochs, max_new_tokens=args.max_new_tokens, samples_per_step=0,
        seed=0, **options,
    )  # fmt: skip
    trainer = PPOTrainer(session, LetterReward(), load_prompts(), config)
    update_seconds = _time_updates(trainer)
    before = psutil.Process().memory_info().rss
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        _reset_peak_rss()  # the load's peak must not hide the step's
    meter.start()
    trainer.step()
    meter.stop()
    peak = meter.peak_bytes() if args.device.startswith("cuda") else _peak_rss(meter)
    return {
        "peak_bytes": peak,
        "step_peak_bytes": peak - before,
        "step_seconds": meter.wall,
        "update_seconds": sum(update_seconds),
    }


def _reset_peak_rss() -> None:
    """Linux: start the peak resident set (VmHWM) again from the current one."""
    with contextlib.suppress(OSError):  # elsewhere the peak includes the model load
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss(meter: Meter) -> int:
    """VmHWM since _reset_peak_rss on Linux, else the process's lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return meter.peak_bytes()


def _time_updates(trainer) -> list[float]:
    """Wall times of the trainer's update phase (epochs x minibatches), one per step."""
    times: list[float] = []
    update = trainer._update

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return update(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - started)

    trainer._update = timed
    return times


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random:gpt2-small", help="random:<preset> or a folder")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mini-batch-size", type=int, default=8)
    parser.add_argument("--ppo-epochs", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--chunk", type=int, default=16, help="logits_chunk_size of 'chunked'")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # child: run this one
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.variant:
        print(RESULT_PREFIX + json.dumps(run_variant(args)), flush=True)
        return 0
    from core.paths import data_dir

    model_dir = args.model
    if is_random_model(args.model):
        model_dir = str(random_model(args.model, data_dir() / "bench"))
    print(
        f"# {args.model}, {device_name(args.device)} (children: {args.threads} torch threads)",
        file=sys.stderr,
    )
    rows = []
    for variant in args.variants.split(","):
        result = _child(argv or sys.argv[1:], variant, model_dir)
        rows.append((variant, result))
        print(f"{variant}: {json.dumps(result)}", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


def _child(argv: list[str], variant: str, model_dir: str) -> dict[str, float]:
    command = [sys.executable, __file__, *argv, "--variant", variant, "--model-dir", model_dir]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"variant {variant} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix(RESULT_PREFIX))


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    """A markdown table of the variants, with each figure against the default's."""
    base = dict(rows)["default"] if "default" in dict(rows) else rows[0][1]
    lines = [
        "| variant | peak (MiB) | step peak (MiB) | step (s) | update (s) |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        ratio = r["step_peak_bytes"] / base["step_peak_bytes"] if base["step_peak_bytes"] else 0
        lines.append(
            f"| {name} | {r['peak_bytes'] / 2**20:.0f} | {r['step_peak_bytes'] / 2**20:.0f} "
            f"(x{ratio:.2f}) | {r['step_seconds']:.1f} | {r['update_seconds']:.1f} "
            f"(x{r['update_seconds'] / base['update_seconds']:.2f}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
