"""GRPO's loss options on the demo task at the same budget: reward gain, KL, entropy.

    python bench/grpo_options.py                       # 12 steps x 16 samples, seeds 0 and 1
    python bench/grpo_options.py --steps 30 --seeds 0,1,2

Each variant trains the demo model's LoRA adapter against the VADER sentiment reward
with the app's GRPO defaults (group 4, minibatches of 4 so that the loss aggregations
differ), changing only the named options. Reported per variant (mean over seeds): the
mean reward of the first three and the last four steps, the gain between them, the last
step's KL to the reference (k3, nats per response and per token) and entropy. The
figures chose the defaults (docs/benchmarks.md, "GRPO's loss options").
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = {
    "dapo (default)": {},
    "grpo": {"loss_type": "grpo"},
    "bnpo": {"loss_type": "bnpo"},
    "dr_grpo, no std": {"loss_type": "dr_grpo", "scale_rewards": "none"},
    "dapo + eps_high 0.28": {"epsilon_high": 0.28},
    "sequence ratio (GSPO)": {"importance_sampling_level": "sequence", "cliprange": 0.01},
    "dapo + drop zero-std": {"drop_zero_std_groups": True},
}


def run_one(options: dict, steps: int, seed: int) -> dict[str, float]:
    """One run's reward at the start and end, and its last KL and entropy."""
    import torch

    from core.config import ModelSpec
    from core.config.critic_free import GRPOConfig
    from core.demo import DEMO_PROMPTS, ensure_demo_model
    from core.grpo.trainer import GRPOTrainer
    from core.model.session import ModelSession
    from core.rewards.sentiment import SentimentReward

    torch.set_num_threads(1)
    session = ModelSession.load(ModelSpec(name_or_path=str(ensure_demo_model()), device="cpu"))
    config = GRPOConfig(
        steps=steps, batch_size=16, group_size=4, mini_batch_size=4, seed=seed,
        samples_per_step=0, **options,
    )  # fmt: skip
    metrics = [r.metrics for r in GRPOTrainer(session, SentimentReward(), DEMO_PROMPTS, config)]
    rewards = [m["reward/mean"] for m in metrics]
    first, last = statistics.mean(rewards[:3]), statistics.mean(rewards[-4:])
    return {
        "gain": last - first,
        "kl": metrics[-1]["objective/kl"],
        "kl_token": metrics[-1]["objective/kl_per_token"],
        "entropy": metrics[-1]["policy/entropy"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'variant':24} {'gain':>7} {'kl':>7} {'kl/token':>9} {'entropy':>8}")
    for name, options in VARIANTS.items():
        runs = [run_one(options, args.steps, seed) for seed in seeds]
        mean = {key: statistics.mean(run[key] for run in runs) for key in runs[0]}
        print(
            f"{name:24} {mean['gain']:+7.3f} {mean['kl']:7.3f} {mean['kl_token']:9.4f} "
            f"{mean['entropy']:8.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
