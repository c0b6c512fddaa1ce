"""What --quantize saves and costs: weight memory, load time, and the time of one LoRA
forward + backward and of a short greedy generation, for none / 8bit / 4bit.

    python -m bench.quantize_memory [--model random:smollm2-360m] [--device cpu]

The model is a folder, 'demo', or `random:<preset>` (bench/random_models.py: a hub
model's shape with random weights; speed and memory depend on shapes only). Each mode
loads in a fresh child process so one mode's memory does not count against the next.
Prints one line per mode; figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MODES = ("none", "8bit", "4bit")


def measure(model: str, device: str, quantize: str, tokens: int, batch: int) -> dict:
    """Load once with `quantize` and time one training forward + backward and a generation."""
    import psutil
    import torch

    from core.config import GenerationConfig, ModelSpec
    from core.model.backbone import base_model
    from core.model.generate import generate
    from core.model.session import ModelSession

    torch.manual_seed(0)
    started = time.perf_counter()
    session = ModelSession.load(ModelSpec(name_or_path=model, device=device, quantize=quantize))
    load_s = time.perf_counter() - started
    weights = base_model(session.model).get_memory_footprint()
    ids = torch.randint(10, len(session.tokenizer) - 1, (batch, tokens), device=session.device)
    session.model.train()
    started = time.perf_counter()
    session.model(input_ids=ids, labels=ids).loss.backward()
    train_s = time.perf_counter() - started
    session.model.eval()
    started = time.perf_counter()
    generate(session, ["The movie was"], GenerationConfig(max_new_tokens=16, temperature=0))
    generate_s = time.perf_counter() - started
    return {
        "quantize": quantize,
        "weights_mib": weights / 2**20,
        "rss_mib": psutil.Process().memory_info().rss / 2**20,
        "load_s": load_s,
        "forward_backward_s": train_s,
        "generate_16_s": generate_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="random:smollm2-360m")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=64, help="sequence length of the step")
    parser.add_argument("--batch", type=int, default=4, help="rows of the step")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.model, args.device, args.one, args.tokens, args.batch)))
        return
    model = _resolve(args.model)
    print(f"model {args.model} on {args.device}, step of {args.batch} x {args.tokens} tokens")
    for mode in args.modes.split(","):
        command = [sys.executable, "-m", "bench.quantize_memory", "--model", model,
                   "--device", args.device, "--tokens", str(args.tokens),
                   "--batch", str(args.batch), "--one", mode]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{mode:>5}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{mode:>5}: weights {row['weights_mib']:8.1f} MiB  process {row['rss_mib']:7.0f} "
            f"MiB  load {row['load_s']:5.1f} s  forward+backward {row['forward_backward_s']:6.2f}"
            f" s  generate 16 tokens {row['generate_16_s']:5.2f} s"
        )


def _resolve(name: str) -> str:
    from bench.random_models import is_random_model, random_model
    from core.paths import data_dir

    return str(random_model(name, data_dir() / "bench")) if is_random_model(name) else name


if __name__ == "__main__":
    main()
