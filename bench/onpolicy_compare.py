"""PPO vs GRPO vs RLOO on the demo task at the same sample budget: reward, KL, wall time.

    python bench/onpolicy_compare.py                 # 12 steps x 16 samples, seeds 0 and 1
    python bench/onpolicy_compare.py --steps 30 --seeds 0,1,2

Each algorithm trains the demo model's LoRA adapter against the VADER sentiment reward
with its own defaults (the app's), except what sets the budget: the same steps and the
same batch of completions per step (GRPO/RLOO: batch / group_size prompts each). Runs
one after another in this process, one torch thread. Reported per algorithm (mean over
seeds): the mean reward of the first three and the last four steps, the gain between
them, the last step's KL to the reference (nats per response, k1), and the wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_one(kind: str, steps: int, batch: int, group: int, seed: int) -> dict[str, float]:
    """Train one run; its reward at the start and end, last KL, wall time."""
    from core.config import ModelSpec, PPOConfig
    from core.config.critic_free import GRPOConfig, RLOOConfig
    from core.demo import DEMO_PROMPTS, ensure_demo_model
    from core.grpo.trainer import GRPOTrainer, RLOOTrainer
    from core.model.session import ModelSession
    from core.ppo.trainer import PPOTrainer
    from core.rewards.sentiment import SentimentReward

    session = ModelSession.load(ModelSpec(name_or_path=str(ensure_demo_model()), device="cpu"))
    common = dict(steps=steps, batch_size=batch, seed=seed, samples_per_step=0)
    if kind == "ppo":
        trainer = PPOTrainer(
            session,
            SentimentReward(),
            DEMO_PROMPTS,
            PPOConfig(**common, mini_batch_size=batch // 2),
        )
    else:
        config_class, trainer_class = {
            "grpo": (GRPOConfig, GRPOTrainer),
            "rloo": (RLOOConfig, RLOOTrainer),
        }[kind]
        config = config_class(**common, group_size=group, mini_batch_size=batch)
        trainer = trainer_class(session, SentimentReward(), DEMO_PROMPTS, config)
    started = time.perf_counter()
    metrics = [result.metrics for result in trainer]
    wall = time.perf_counter() - started
    rewards = [m["reward/mean"] for m in metrics]
    first, last = statistics.mean(rewards[:3]), statistics.mean(rewards[-4:])
    return {
        "first": first,
        "last": last,
        "gain": last - first,
        "kl": metrics[-1]["objective/kl"],
        "wall_s": wall,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16, help="completions per step")
    parser.add_argument("--group-size", type=int, default=4, help="GRPO/RLOO (default 4)")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--algorithms", default="ppo,grpo,rloo")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"demo model, sentiment reward, {args.steps} steps x {args.batch_size} completions "
        f"({args.steps * args.batch_size} samples), group {args.group_size}, seeds {seeds}"
    )
    print(f"{'':6}{'seed':>5}{'reward first3':>15}{'last4':>8}{'gain':>8}{'KL':>8}{'wall s':>8}")
    for kind in args.algorithms.split(","):
        runs = []
        for seed in seeds:
            run = run_one(kind, args.steps, args.batch_size, args.group_size, seed)
            runs.append(run)
            print(_row(kind, str(seed), run), flush=True)
        mean = {key: statistics.mean(r[key] for r in runs) for key in runs[0]}
        print(_row(kind, "mean", mean), flush=True)
    return 0


def _row(kind: str, seed: str, run: dict[str, float]) -> str:
    return (
        f"{kind:6}{seed:>5}{run['first']:>+15.3f}{run['last']:>+8.3f}{run['gain']:>+8.3f}"
        f"{run['kl']:>8.2f}{run['wall_s']:>8.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
