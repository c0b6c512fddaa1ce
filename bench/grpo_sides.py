"""The two sides of the critic-free benchmark: our GRPO/RLOO (core.grpo) and TRL's
GRPOTrainer/RLOOTrainer (trl 0.29), with the same settings and the same Python reward.

Both get the same model folder, prompts, group size, batch, minibatch, epochs, response
length, temperature, learning rate, beta and seed, a LoRA config from core.model.lora, and the
reward as one Python function (VADER sentiment, `sentiment_reward`). Models are loaded
and the trainer built before the clock starts. The mapping to TRL (0.29.x):

- batch B completions per generation, M per optimiser step, E passes: TRL's
  per_device_train_batch_size = M, steps_per_generation = B / M (its generation batch is
  then B), num_iterations = E, gradient_accumulation_steps = 1; max_steps = steps * B/M * E
  optimiser steps, i.e. exactly `steps` generations.
- num_generations = group size; prompts are repeated G times in a row on both sides.
- beta > 0 with a peft_config: the reference is the policy with its adapter disabled.
  GRPO: k3 KL in the loss (TRL's only way); RLOO: beta * k1 KL subtracted from the reward
  (TRL's only way), so ours runs with kl_penalty 'loss' / 'reward' to match.
- GRPO: loss_type 'bnpo', the token mean over each optimiser step's minibatch, which is
  ours. (TRL's default 'dapo' divides by the tokens of the whole generation batch, so
  with B / M optimiser steps per generation each step's gradient is M / B of ours: half
  the effective learning rate at the defaults.) scale_rewards 'group', std + 1e-4, both.
- RLOO: TRL 0.29's RLOOTrainer has one loss, with a *sequence-level* ratio
  exp(sum log-ratio) clipped per response and a mean over responses; ours clips per
  token (PPO-style) with a token mean. Not the same update: see docs/benchmarks.md.
- Constant learning rate, gradient clipping at 1.0 (TRL's Trainer default, ours too), no
  autocast (bf16 off), no gradient checkpointing, no logged sample completions, dropout
  off (ours runs the policy in eval mode; TRL's `disable_dropout`).
- KL compared as the same figure at the same moment: the per-token KL of the rollout,
  before the step's updates (k3 for GRPO, k1 for RLOO): our objective/kl_per_token beside
  TRL's `kl` as logged on a generation's first optimiser step (TRL logs each optimiser
  step's own metrics; on the first, the policy has not moved yet). The mean over the
  step's updates rides along as extra["kls_update"] (our loss/kl; TRL's `kl` over the
  generation's steps): it is higher by what the step itself moved.
- GRPO, TRL >= 1.x: use_bias_correction_kl follows `kl_bias_correction` on both sides
  (off by default; TRL 1.x's own default is on).
"""

from __future__ import annotations

import dataclasses
import gc
import tempfile
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.common import Meter, SideResult, side_result

SIDES = ("ours", "trl")
ALGORITHMS = ("grpo", "rloo")


@dataclass(frozen=True)
class GroupBenchSettings:
    """One configuration, applied identically to both trainers."""

    model_dir: str
    algorithm: str = "grpo"
    device: str = "cpu"
    steps: int = 8
    batch_size: int = 16
    group_size: int = 4
    mini_batch_size: int = 8
    epochs: int = 2
    max_new_tokens: int = 24
    temperature: float = 1.0
    learning_rate: float = 5e-4
    beta: float = 0.04
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0
    bf16: bool = False
    """Policy weights in bfloat16 on both sides (a GPU); otherwise float32."""
    kl_bias_correction: bool = False
    """`use_bias_correction_kl` on both sides (TRL 1.x's default, ours off by default):
    the KL term times the importance ratio. TRL 0.x has no such option: keep it off."""
    threads: int | None = None
    prompts: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["prompts"] = list(self.prompts)
        return data


_VADER: Any = None


def sentiment_reward(prompts: list[str], completions: list[str], **_columns: Any) -> list[float]:
    """The reward both sides train on: VADER compound sentiment of each completion, as a
    plain Python function with TRL's reward-function signature."""
    global _VADER
    if _VADER is None:
        from core.rewards.sentiment import SentimentReward

        _VADER = SentimentReward()
    return [float(s) for s in _VADER.score(list(prompts), list(completions))]


class FunctionReward:
    """`sentiment_reward` as the reward source our trainers take."""

    name = "sentiment"

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return sentiment_reward(prompts, responses)


def run_side(side: str, settings: GroupBenchSettings) -> SideResult:
    """Run one side with these settings in this process (torch's thread count restored)."""
    if side not in SIDES or settings.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown side {side!r} or algorithm {settings.algorithm!r}")
    previous = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return run_ours(settings) if side == "ours" else run_trl(settings)
    finally:
        torch.set_num_threads(previous)


def _prompts(settings: GroupBenchSettings) -> list[str]:
    """The prompts, repeated until they fill a generation batch (TRL drops ragged ones)."""
    prompts = list(settings.prompts)
    while len(prompts) < settings.batch_size // settings.group_size:
        prompts += list(settings.prompts)
    return prompts


# ------------------------------------------------------------------------------ ours


def run_ours(settings: GroupBenchSettings) -> SideResult:
    from core.config import LoraSpec, ModelSpec
    from core.config.critic_free import GRPOConfig, RLOOConfig
    from core.grpo.trainer import GRPOTrainer, RLOOTrainer
    from core.model.session import ModelSession

    meter = Meter(settings.device)
    torch.manual_seed(settings.seed)  # the LoRA A matrices are drawn when the session loads
    session = ModelSession.load(
        ModelSpec(
            name_or_path=settings.model_dir,
            device=settings.device,
            dtype="bfloat16" if settings.bf16 else "float32",
            lora=LoraSpec(r=settings.lora_r, alpha=settings.lora_alpha),
        )
    )
    grpo = settings.algorithm == "grpo"
    config_class, trainer_class = (GRPOConfig, GRPOTrainer) if grpo else (RLOOConfig, RLOOTrainer)
    config = config_class(
        steps=settings.steps,
        batch_size=settings.batch_size,
        group_size=settings.group_size,
        mini_batch_size=settings.mini_batch_size,
        gradient_accumulation_steps=1,
        ppo_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        lr_schedule="constant",
        max_grad_norm=1.0,
        cliprange=0.2,
        beta=settings.beta,
        kl_penalty="loss" if grpo else "reward",
        kl_estimator="k3" if grpo else "k1",
        loss_type="bnpo",  # TRL's side runs bnpo: the token mean of each minibatch
        use_bias_correction_kl=settings.kl_bias_correction and grpo,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
        samples_per_step=0,
    )
    trainer = trainer_class(session, FunctionReward(), _prompts(settings), config)
    rewards, kls, kls_update, reported = [], [], [], []
    meter.start()
    for result in trainer:
        meter.step_done()
        metrics = result.metrics
        rewards.append(metrics["reward/mean"])
        # Per-token KL of the rollout, before the step's updates (TRL's `kl` on a
        # generation's first optimiser step is that too: k3 there, k1 for RLOO)
        kls.append(metrics.get("objective/kl_per_token", 0.0))
        kls_update.append(metrics.get("loss/kl", metrics.get("objective/kl_per_token", 0.0)))
        reported.append(metrics["perf/samples_per_s"])
    meter.stop()
    return side_result(
        "ours",
        settings,
        meter,
        rewards,
        kls,
        sum(reported) / len(reported),
        {"algorithm": settings.algorithm, "kls_update": kls_update},
    )


# ------------------------------------------------------------------------------- TRL


def run_trl(settings: GroupBenchSettings) -> SideResult:
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed

    from core.config import LoraSpec
    from core.model.lora import lora_config

    grpo = settings.algorithm == "grpo"
    if grpo:
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOTrainer as Trainer

    meter = Meter(settings.device)
    set_seed(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(settings.model_dir, padding_side="left")
    dtype = torch.bfloat16 if settings.bf16 else torch.float32
    policy = AutoModelForCausalLM.from_pretrained(settings.model_dir, dtype=dtype)
    peft = lora_config(policy, LoraSpec(r=settings.lora_r, alpha=settings.lora_alpha))
    dataset = _dataset([{"prompt": prompt} for prompt in _prompts(settings)])
    rewards: list[float] = []
    kls: list[float] = []
    cycles: list[list[float]] = []  # per generation: `kl` of each of its optimiser steps

    class Collect(TrainerCallback):
        """TRL logs every optimiser step, and each log holds only that step's metrics. The
        log with `reward` is a generation's first optimiser step: its `kl` is the rollout's
        (the policy has not moved yet), on that step's minibatch."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                meter.step_done()
                rewards.append(float(logs["reward"]))
                kls.append(float(logs.get("kl", 0.0)))
                cycles.append([])
            if logs and "kl" in logs and cycles:
                cycles[-1].append(float(logs["kl"]))

    with tempfile.TemporaryDirectory(prefix="bench-trl-") as output_dir:
        trainer = Trainer(
            model=policy,
            reward_funcs=sentiment_reward,
            args=_trl_config(settings, output_dir),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=[Collect()],
        )
        gc.collect()
        meter.start()
        trainer.train()
        meter.stop()
    kls_update = [sum(cycle) / len(cycle) if cycle else 0.0 for cycle in cycles]
    extra = {"algorithm": settings.algorithm, "kls_update": kls_update}
    return side_result("trl", settings, meter, rewards, kls, None, extra)


def _dataset(rows: list[dict]) -> Any:
    """TRL 1.x takes a `datasets.Dataset` only. TRL 0.29 takes a plain list of rows, which
    it is given: datasets' fingerprinting (dill over pyarrow types) is not needed for an
    in-memory prompt list and breaks with some pyarrow/dill pairs."""
    from importlib.metadata import version

    if int(version("trl").split(".")[0]) < 1:
        return rows
    from datasets import Dataset

    return Dataset.from_list(rows)


def _trl_config(settings: GroupBenchSettings, output_dir: str) -> Any:
    per_generation = settings.batch_size // settings.mini_batch_size
    common = dict(
        output_dir=output_dir,
        per_device_train_batch_size=settings.mini_batch_size,
        gradient_accumulation_steps=1,
        steps_per_generation=per_generation,
        num_iterations=settings.epochs,
        max_steps=settings.steps * per_generation * settings.epochs,
        num_generations=settings.group_size,
        max_completion_length=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=1.0,
        top_k=0,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        max_grad_norm=1.0,
        epsilon=0.2,
        beta=settings.beta,
        seed=settings.seed,
        bf16=False,
        fp16=False,
        use_cpu=settings.device == "cpu",
        gradient_checkpointing=False,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=1,
        dataloader_num_workers=0,
        log_completions=False,
        # Ours samples and updates in eval mode (log-probs must match between the two), so
        # a model with dropout (GPT-2's config: 0.1) runs without it on both sides.
        disable_dropout=True,
    )
    if settings.algorithm == "grpo":
        from trl import GRPOConfig

        extra = {}
        if "use_bias_correction_kl" in GRPOConfig.__dataclass_fields__:  # TRL >= 1.x
            extra["use_bias_correction_kl"] = settings.kl_bias_correction
        return GRPOConfig(**common, scale_rewards="group", loss_type="bnpo", **extra)
    from trl import RLOOConfig

    return RLOOConfig(**common, normalize_advantages=False)
