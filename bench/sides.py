"""The two sides of the benchmark: our LoRA PPO (core.ppo) and TRL's (trl.experimental.ppo).

Both get the same model folder, prompts, reward model, batch and minibatch sizes, PPO
epochs, response length, temperature, learning rate, KL coefficient and seed. Models are
loaded and the trainer built before the clock starts; the clock runs around the training
loop only. The mapping to TRL's PPOConfig follows trl/experimental/ppo/ppo_trainer.py
(0.29.x):

- batch: per_device_train_batch_size = B with gradient_accumulation_steps = 1 (one
  process), so TRL's batch_size = B; num_mini_batches = B / mini_batch_size makes its
  minibatch (= its micro-batch: one optimiser step each) ours.
- total_episodes = steps * B gives exactly `steps` PPO updates.
- local_rollout_forward_batch_size = B: one generate() call over the batch, as ours.
- ref_model=None with a peft_config: the reference is the policy with its adapter
  disabled, as ours. The LoRA config is core.model.lora.lora_config's (same targets, r, alpha).
- value_model: AutoModelForSequenceClassification(num_labels=1) of the policy's folder,
  as TRL requires: a full trainable copy of the backbone (ours: a linear head on the
  policy's hidden state).
- No autocast (bf16/fp16 False): both run in the weight dtype. No gradient checkpointing.
  Constant learning rate (TRL's default is linear decay). kl_estimator k1, as ours.
- TRL does not clip gradients in its PPO loop, so ours runs with max_grad_norm = 0 (off).
- No sample generations: TRL's num_sample_generations = 0, ours samples_per_step = 0
  unless --samples-per-step says otherwise (the GUI's default is 4).
"""

from __future__ import annotations

import gc
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from bench.common import BenchSettings, Meter, SideResult, side_result, torch_dtype

SIDES = ("ours", "trl")


def run_side(side: str, settings: BenchSettings) -> SideResult:
    """Run one side with these settings in this process (torch's thread count restored after)."""
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}; use one of {SIDES}")
    previous = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return run_ours(settings) if side == "ours" else run_trl(settings)
    finally:
        torch.set_num_threads(previous)


def _prompts(settings: BenchSettings) -> list[str]:
    """The prompt list, repeated until it holds a whole batch (TRL drops ragged batches)."""
    prompts = list(settings.prompts)
    while len(prompts) < settings.batch_size:
        prompts += list(settings.prompts)
    return prompts


# ------------------------------------------------------------------------------ ours


def run_ours(settings: BenchSettings) -> SideResult:
    """Our PPOTrainer: one backbone for policy, reference (adapter off) and critic (head)."""
    from core.config import LoraSpec, ModelSpec, PPOConfig
    from core.model.session import ModelSession
    from core.ppo.trainer import PPOTrainer
    from core.rewards import RewardContext, build_reward, parse_reward_spec

    meter = Meter(settings.device)
    # The LoRA A matrices are drawn when the session loads, before PPOTrainer seeds
    # anything: seed here, as set_seed does for TRL, or two runs differ from step 2 on.
    torch.manual_seed(settings.seed)
    session = ModelSession.load(
        ModelSpec(
            name_or_path=settings.model_dir,
            device=settings.device,
            dtype="bfloat16" if settings.bf16 else "float32",
            lora=LoraSpec(r=settings.lora_r, alpha=settings.lora_alpha),
        )
    )
    reward = build_reward(
        [parse_reward_spec(f"rm={settings.rm_dir}")], RewardContext(device=settings.device)
    )
    trainer = PPOTrainer(session, reward, _prompts(settings), _our_config(settings, PPOConfig))

    rewards, kls, reported = [], [], []
    meter.start()
    for result in trainer:
        meter.step_done()
        metrics = result.metrics
        rewards.append(metrics.get("objective/scores", metrics["reward/mean"]))
        kls.append(metrics["objective/kl"])
        reported.append(metrics["perf/samples_per_s"])
    meter.stop()
    return side_result("ours", settings, meter, rewards, kls, sum(reported) / len(reported))


def _our_config(settings: BenchSettings, config_cls: Any) -> Any:
    return config_cls(
        steps=settings.steps,
        batch_size=settings.batch_size,
        mini_batch_size=settings.mini_batch_size,
        gradient_accumulation_steps=1,
        ppo_epochs=settings.ppo_epochs,
        learning_rate=settings.learning_rate,
        lr_schedule="constant",
        max_grad_norm=0.0,  # TRL's PPO loop does not clip
        kl_mode="fixed",
        init_kl_coef=settings.kl_coef,
        whiten_rewards=False,
        missing_eos_penalty=settings.missing_eos_penalty,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_k=0,
        top_p=1.0,
        seed=settings.seed,
        samples_per_step=settings.samples_per_step,
    )


# ------------------------------------------------------------------------------- TRL


def run_trl(settings: BenchSettings) -> SideResult:
    """TRL's PPOTrainer: LoRA policy (adapter-off reference) plus a separate value model."""
    from transformers import TrainerCallback, set_seed
    from trl.experimental.ppo import PPOTrainer

    meter = Meter(settings.device)
    set_seed(settings.seed)  # before the LoRA and value-head weights are drawn
    models = _trl_models(settings)
    rewards: list[float] = []
    kls: list[float] = []
    eps: list[float] = []

    class Collect(TrainerCallback):
        """TRL logs once per PPO update; that is our step boundary."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "objective/scores" in logs:
                meter.step_done()
                rewards.append(float(logs["objective/scores"]))
                kls.append(float(logs["objective/kl"]))
                eps.append(float(logs["eps"]))

    with tempfile.TemporaryDirectory(prefix="bench-trl-") as output_dir, _quiet_upstream():
        trainer = PPOTrainer(
            args=_trl_config(settings, output_dir), ref_model=None, callbacks=[Collect()], **models
        )
        gc.collect()
        meter.start()
        trainer.train()
        meter.stop()
    # TRL logs eps as int(episodes / seconds): below 1 sample/s it reads 0, which says nothing.
    reported = eps[-1] if eps and eps[-1] >= 1 else None
    return side_result("trl", settings, meter, rewards, kls, reported)


def _trl_models(settings: BenchSettings) -> dict[str, Any]:
    """Tokenizer, policy, value and reward models, LoRA config and prompts, as TRL takes them."""
    from datasets import Dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from core.config import LoraSpec
    from core.model.lora import lora_config

    tokenizer = AutoTokenizer.from_pretrained(settings.model_dir, padding_side="left")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        # TRL finds padding by `ids == pad_token_id`, so a pad that is EOS hides every EOS.
        raise SystemExit(
            f"{settings.model_dir}: TRL's PPO needs a pad token distinct from EOS; add one to "
            "the tokenizer (and resize the embeddings) or use the demo model."
        )
    dtype = torch_dtype(settings)
    policy = AutoModelForCausalLM.from_pretrained(settings.model_dir, dtype=dtype)
    value = AutoModelForSequenceClassification.from_pretrained(
        settings.model_dir, num_labels=1, dtype=dtype
    )
    value.config.pad_token_id = tokenizer.pad_token_id
    # float32, like our rm= source
    reward = AutoModelForSequenceClassification.from_pretrained(
        settings.rm_dir, dtype=torch.float32
    )
    prompts = [tokenizer(p)["input_ids"] for p in _prompts(settings)]  # as core's encode_prompts
    return {
        "processing_class": tokenizer,
        "model": policy,
        "value_model": value,
        "reward_model": reward,
        "peft_config": lora_config(policy, LoraSpec(r=settings.lora_r, alpha=settings.lora_alpha)),
        "train_dataset": Dataset.from_dict({"input_ids": prompts}),
    }


def _trl_config(settings: BenchSettings, output_dir: str) -> Any:
    from trl.experimental.ppo import PPOConfig

    on_cpu = settings.device == "cpu"
    return PPOConfig(
        output_dir=output_dir,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=1,
        num_mini_batches=settings.batch_size // settings.mini_batch_size,
        num_ppo_epochs=settings.ppo_epochs,
        total_episodes=settings.steps * settings.batch_size,
        local_rollout_forward_batch_size=settings.batch_size,
        response_length=settings.max_new_tokens,
        temperature=settings.temperature,
        stop_token="eos",
        missing_eos_penalty=settings.missing_eos_penalty,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        kl_coef=settings.kl_coef,
        kl_estimator="k1",
        whiten_rewards=False,
        num_sample_generations=0,
        seed=settings.seed,
        bf16=False,
        fp16=False,
        use_cpu=on_cpu,
        gradient_checkpointing=False,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        logging_strategy="no",
        dataloader_num_workers=0,
    )


@contextmanager
def _quiet_upstream() -> Iterator[None]:
    """Hide transformers 5's renaming notices that TRL 0.29 and PEFT trigger (theirs to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*gradient_checkpointing.*", category=FutureWarning
        )
        yield
