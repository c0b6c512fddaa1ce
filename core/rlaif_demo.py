"""The offline RLAIF loop on the demo, measured by the rubric's ground truth.

generate -> AI feedback -> update, with no person and no network: the demo judge labels
pairs the demo model wrote, under a rubric whose truth can be computed from the text
(core.rlaif.truth). Two updates are checked on prompts the loop never trained on:

1. `reward_model_then_grpo`: a reward model fitted to the AI labels, then GRPO against it;
   the truth of the policy's answers is measured against the base's (same seeds).
2. `dpo_round_vs_base`: one DPO round from AI labels (core.offline.loop.ai_dpo_round),
   whose blind comparison against the base is refereed by the truth, not by the judge.

tests/core/test_rlaif_demo_loop.py runs it at 64 pairs with a quick judge (QUICK_JUDGE);
bench/rlaif_loop.py at larger sizes with the shipped demo judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import GenerationConfig, LoraSpec, RMConfig
from core.judge.train import JudgeBuildConfig
from core.rlaif.truth import LabelTruth, PolicyTruth, TruthJudge, label_truth, policy_truth

if TYPE_CHECKING:
    from core.offline.loop import DPORound
    from core.rewards.judge import LLMJudge
    from core.rlaif.labelling import LabelReport
    from core.store import Store

QUICK_JUDGE = JudgeBuildConfig(
    n_pairs=800, n_points=0, n_layer=2, n_positions=160, steps=120, batch_size=32,
    criteria=("positivity",),
)  # fmt: skip
"""A demo judge that builds in about 40 s on 2 cores and follows the positivity rubric
only (about 90 % agreement with VADER on clear pairs): for tests of the loop. The shipped
recipe (core.judge.train.SHIPPED) takes about five minutes and follows three rubrics."""
TRAIN_SET = "loop-train"
"""The prompt set the loop labels and trains on; the held-out prompts are not in it."""


@dataclass(frozen=True)
class LoopConfig:
    """The sizes of one pass of the loop."""

    criterion: str = "positivity"
    """The rubric preset the judge labels with; its ground truth measures the outcome."""
    pairs: int = 64
    """Pairs the judge labels (each round of DPO samples and labels this many again)."""
    held_out: int = 10
    """Demo prompts kept out of labelling and training; the outcome is measured on them."""
    eval_samples: int = 8
    """Answers per held-out prompt (adapter and base each)."""
    max_new_tokens: int = 24
    """Tokens per answer, sampled and measured."""
    rm_epochs: int = 4
    """Reward-model epochs over the AI labels."""
    grpo_steps: int = 12
    """GRPO steps against the reward model (16 completions each, groups of 4)."""
    dpo_steps: int = 25
    """DPO steps of the round (batches of 16 pairs)."""
    seed: int = 0
    """Seed of the sampling, the reward model, GRPO and DPO."""


def split_prompts(prompts: Sequence[str], held_out: int) -> tuple[list[str], list[str]]:
    """(training prompts, held-out prompts): the last `held_out` are held out."""
    if not 0 < held_out < len(prompts):
        raise ValueError(f"hold out between 1 and {len(prompts) - 1} of {len(prompts)} prompts")
    return list(prompts[:-held_out]), list(prompts[-held_out:])


def label_demo_pairs(
    store: Store, judge: LLMJudge, session: Any, train_prompts: Sequence[str], config: LoopConfig
) -> tuple[LabelReport, LabelTruth]:
    """Sample config.pairs pairs from the policy on the training prompts, have the judge
    label them, and measure the labels against the ground truth."""
    from core.rlaif.labelling import label_pairs

    store.add_prompts(list(train_prompts), set_name=TRAIN_SET)
    generation = GenerationConfig(
        max_new_tokens=config.max_new_tokens, seed=config.seed, batch_size=64
    )
    report = label_pairs(store, judge, config.pairs, policy=session, generation=generation,
                         prompt_set=TRAIN_SET)  # fmt: skip
    return report, label_truth(store, judge.rater, config.criterion)


@dataclass(frozen=True)
class GRPOOutcome:
    """A reward model on the AI labels, and GRPO against it."""

    rm_folder: Path
    rm_accuracy: float | None
    """The reward model's held-out accuracy on AI labels."""
    labels_dropped: int
    """AI labels left out as coin flips."""
    rewards: list[float] = field(default_factory=list)
    """GRPO's reward/mean per step (the reward model's scale)."""
    truth: PolicyTruth | None = None
    """The ground truth of the tuned policy against the base, on held-out prompts."""


def reward_model_then_grpo(
    store: Store,
    session: Any,
    out: Path,
    train_prompts: Sequence[str],
    eval_prompts: Sequence[str],
    config: LoopConfig,
) -> GRPOOutcome:
    """Fit a reward model on the store's AI comparisons (coin flips filtered out), run GRPO
    on the training prompts against it, and measure the truth on the held-out prompts."""
    from core.config.critic_free import GRPOConfig
    from core.grpo.trainer import GRPOTrainer
    from core.model.session import resolve_model_path
    from core.rewards.classifier import ClassifierReward
    from core.rlaif.loop import retrain_reward_model
    from core.train.launch import Algorithm, start_run

    base = resolve_model_path(session.spec.name_or_path)
    rm_config = RMConfig(base=base, epochs=config.rm_epochs,
                         batch_size=16, learning_rate=2e-3, max_length=48,
                         lora=LoraSpec(r=8, alpha=16), seed=config.seed)  # fmt: skip
    result = retrain_reward_model(store, rm_config, out, source="ai", device="cpu")
    reward = ClassifierReward(result.folder, device="cpu")
    grpo = GRPOConfig(steps=config.grpo_steps, batch_size=16, group_size=4, mini_batch_size=16,
                      samples_per_step=0, max_new_tokens=config.max_new_tokens,
                      seed=config.seed)  # fmt: skip
    run = start_run(store, Algorithm.of(GRPOTrainer), session, reward, list(train_prompts), grpo,
                    [f"rm={result.folder}"])  # fmt: skip
    rewards = [step.metrics["reward/mean"] for step in run]
    truth = policy_truth(session, eval_prompts, config.criterion, samples=config.eval_samples,
                         max_new_tokens=config.max_new_tokens, seed=config.seed + 1)  # fmt: skip
    return GRPOOutcome(result.folder, result.best.eval_accuracy, result.coin_flips_dropped,
                       rewards, truth)  # fmt: skip


def dpo_round_vs_base(
    store: Store,
    session: Any,
    judge: LLMJudge,
    train_prompts: Sequence[str],
    eval_prompts: Sequence[str],
    config: LoopConfig,
) -> tuple[DPORound, PolicyTruth]:
    """One DPO round from AI labels (config.pairs new pairs sampled, labelled, trained on
    with everything rated before), refereed blind against the base by the ground truth."""
    from core.offline.config import DPOConfig
    from core.offline.loop import ai_dpo_round

    dpo = DPOConfig(
        steps=config.dpo_steps, batch_size=16, eval_every=config.dpo_steps, seed=config.seed
    )
    if not store.prompts(TRAIN_SET):
        store.add_prompts(list(train_prompts), set_name=TRAIN_SET)
    referee = TruthJudge(config.criterion)
    blind = [prompt for prompt in eval_prompts for _ in range(config.eval_samples)]
    record = ai_dpo_round(store, session, judge, dpo, config.pairs, blind, TRAIN_SET,
                          seed=config.seed + 1, referee=referee)  # fmt: skip
    truth = policy_truth(session, eval_prompts, config.criterion, samples=config.eval_samples,
                         max_new_tokens=config.max_new_tokens, seed=config.seed + 1)  # fmt: skip
    return record, truth
