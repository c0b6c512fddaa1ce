"""What the update pass's heap hold (core/model/host_memory.py) costs and saves, trainer by trainer.

    python -m bench.heap_hold                          # demo model, every trainer, 3 runs each
    python -m bench.heap_hold --model random:gpt2-small --trainers grpo,dpo --steps 2

For each trainer (PPO, GRPO, RLOO, DPO, KTO, SFT) our side runs a few steps twice per
repeat, each in a fresh process, order alternating: `app` (the build as it ships: the hold
only for a model of `HOLD_FROM_WEIGHT_BYTES` or more) and `hold` (every update pass holds
glibc's mmap threshold at 128 KiB, whatever the model's size). The table gives medians of
samples/s, samples per CPU-second and the peak RSS, and app/hold. On the demo model the two
differ (the app does not hold there); on a model at or above the size they run the same code,
and their ratio is the noise of the machine. The last line is

    app/hold samples_per_cpu_s=<min over trainers> peak_mem=<max over trainers>

(throughput per CPU-second: on a shared machine the wall clock measures the other jobs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Meter, device_name, load_prompts, quiet_libraries  # noqa: E402

TRAINERS = ("ppo", "grpo", "rloo", "dpo", "kto", "sft")
MODES = ("app", "hold")
RESULT_PREFIX = "HEAP_HOLD_RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--model", default="demo", help="'demo', a causal-LM folder or random:<preset>")
    add("--trainers", default=",".join(TRAINERS), help="comma-separated (default: all six)")
    add("--steps", type=int, default=6, help="training steps per run (default 6)")
    add("--batch-size", type=int, default=16)
    add("--max-new-tokens", type=int, default=24, help="response length (default 24)")
    add("--repeats", type=int, default=3, help="runs per mode, order alternating (default 3)")
    add("--cache-dir", type=Path, help="where a random model is cached (default: data dir)")
    add("--json-out", type=Path)
    add("--child", nargs=2, metavar=("TRAINER", "MODE"), help=argparse.SUPPRESS)
    add("--model-dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _texts(count: int, seed: int) -> list[str]:
    from core.demo.corpus import generate_reviews

    return generate_reviews(count, seed=seed)


def build_trainer(kind: str, session, args):
    """One trainer of `kind` on the demo prompts, with the bench's sizes."""
    from core.rewards import RewardContext, build_reward

    prompts, batch, tokens = load_prompts(), args.batch_size, args.max_new_tokens
    if kind == "ppo":
        from core.config import PPOConfig
        from core.ppo import PPOTrainer

        config = PPOConfig(steps=args.steps, batch_size=batch, mini_batch_size=batch // 2,
                           max_new_tokens=tokens, samples_per_step=0)  # fmt: skip
        return PPOTrainer(session, build_reward(["sentiment"], RewardContext()), prompts, config)
    if kind in ("grpo", "rloo"):
        from core.config.critic_free import GRPOConfig, RLOOConfig
        from core.grpo.trainer import GRPOTrainer, RLOOTrainer

        config_class, trainer_class = {
            "grpo": (GRPOConfig, GRPOTrainer),
            "rloo": (RLOOConfig, RLOOTrainer),
        }[kind]
        config = config_class(steps=args.steps, batch_size=batch, group_size=4,
                              mini_batch_size=batch // 2, max_new_tokens=tokens,
                              samples_per_step=0)  # fmt: skip
        return trainer_class(session, build_reward(["sentiment"], RewardContext()), prompts, config)
    return _offline_trainer(kind, session, args)


def _offline_trainer(kind: str, session, args):
    from core.offline.config import DPOConfig, KTOConfig, SFTConfig
    from core.offline.data import Example
    from core.offline.dpo import DPOTrainer
    from core.offline.kto import KTOTrainer
    from core.offline.sft import SFTTrainer
    from core.reward_model.training import PreferencePair

    prompts, count = load_prompts(), args.steps * args.batch_size
    good, bad = _texts(count, 0), _texts(count, 1)
    common = dict(steps=args.steps, batch_size=args.batch_size, eval_fraction=0.0,
                  micro_batch_size=args.batch_size)  # fmt: skip
    if kind == "dpo":
        pairs = [PreferencePair(prompts[i % len(prompts)], good[i], bad[i]) for i in range(count)]
        return DPOTrainer(session, None, pairs, DPOConfig(**common))
    rows = [Example(prompts[i % len(prompts)], good[i], desirable=i % 2 == 0) for i in range(count)]
    if kind == "kto":
        return KTOTrainer(session, None, rows, KTOConfig(**common))
    return SFTTrainer(session, None, rows, SFTConfig(**common))


def child(args) -> int:
    """One trainer, one mode, in this process: print one result line."""
    import torch

    import core.model.host_memory as host_memory
    from core.config import LoraSpec, ModelSpec
    from core.model.session import ModelSession

    quiet_libraries()
    torch.set_num_threads(1)
    kind, mode = args.child
    if mode == "hold":  # every pass holds, as before the size rule
        host_memory.HOLD_FROM_WEIGHT_BYTES = 0
    meter = Meter("cpu")
    spec = ModelSpec(name_or_path=args.model_dir, device="cpu", lora=LoraSpec(r=16, alpha=32))
    trainer = build_trainer(kind, ModelSession.load(spec), args)
    meter.start()
    for _ in trainer:
        meter.step_done()
    meter.stop()
    samples = args.steps * args.batch_size
    result = {"trainer": kind, "mode": mode, "samples_per_s": samples / meter.wall,
              "samples_per_cpu_s": samples / meter.cpu, "peak_mem_bytes": meter.peak_bytes()}  # fmt: skip
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


def run_child(kind: str, mode: str, argv: list[str], model_dir: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", kind, mode]
    done = subprocess.run(command + ["--model-dir", model_dir], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise SystemExit(f"{kind} ({mode}) failed:\n{done.stderr[-3000:]}")


def summarise(results: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """trainer -> mode -> the median of each figure."""
    keys = ("samples_per_s", "samples_per_cpu_s", "peak_mem_bytes")
    table: dict[str, dict[str, dict[str, float]]] = {}
    for row in results:
        table.setdefault(row["trainer"], {}).setdefault(row["mode"], {})
    for kind, modes in table.items():
        for mode in modes:
            mine = [r for r in results if r["trainer"] == kind and r["mode"] == mode]
            modes[mode] = {key: statistics.median(r[key] for r in mine) for key in keys}
    return table


def report(table: dict) -> list[str]:
    lines = [
        "| trainer | samples/s app | hold | app/hold | samples/CPU-s app/hold "
        "| peak MiB app | hold | app/hold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speeds, memories = [], []
    for kind, modes in table.items():
        app, hold = modes["app"], modes["hold"]
        speed = app["samples_per_s"] / hold["samples_per_s"]
        memory = app["peak_mem_bytes"] / hold["peak_mem_bytes"]
        speeds.append(app["samples_per_cpu_s"] / hold["samples_per_cpu_s"])
        memories.append(memory)
        lines.append(
            f"| {kind} | {app['samples_per_s']:.1f} | {hold['samples_per_s']:.1f} | {speed:.2f} | "
            f"{app['samples_per_cpu_s'] / hold['samples_per_cpu_s']:.2f} | "
            f"{app['peak_mem_bytes'] / 2**20:.0f} | {hold['peak_mem_bytes'] / 2**20:.0f} | "
            f"{memory:.2f} |"
        )
    lines.append(f"app/hold samples_per_cpu_s={min(speeds):.2f} peak_mem={max(memories):.2f}")
    return lines


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return child(args)
    quiet_libraries()
    import torch

    from bench.ppo_vs_trl import resolve_model

    torch.set_num_threads(1)  # what each child runs on (the table's device line)

    from core.paths import data_dir

    model_dir = resolve_model(args.model, args.cache_dir or data_dir() / "bench")
    kinds = [k.strip() for k in args.trainers.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(TRAINERS))
    if unknown:
        raise SystemExit(f"--trainers: unknown {unknown}; choose from {', '.join(TRAINERS)}.")
    results = []
    for repeat in range(args.repeats):
        for kind in kinds:
            for mode in MODES if repeat % 2 == 0 else tuple(reversed(MODES)):
                results.append(run_child(kind, mode, argv, model_dir))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(f"device: {device_name('cpu')}; model {args.model}, {args.steps} steps of "
          f"{args.batch_size}, medians of {args.repeats}")  # fmt: skip
    lines = report(summarise(results))
    print("\n".join(lines))
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "summary": lines}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
