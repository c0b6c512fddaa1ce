"""`ppo`: LoRA PPO from the command line, with checkpoints, resume and a metrics stream."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.cli.common import (
    add_model_arguments,
    model_spec_from_args,
    note_unused_chat_template,
    prompts_for_run,
)
from core.config import PPOConfig, load_json
from core.memory_estimate import session_memory_line
from core.ppo.health import HealthMonitor

# Flags that map one-to-one onto PPOConfig fields: flag name -> (field, type, help).
_CONFIG_FLAGS = {
    "--steps": ("steps", int, "PPO steps"),
    "--batch-size": ("batch_size", int, "rollouts per step"),
    "--mini-batch-size": ("mini_batch_size", int, "rollouts per optimiser minibatch"),
    "--ppo-epochs": ("ppo_epochs", int, "passes over each rollout batch"),
    "--learning-rate": ("learning_rate", float, "Adam learning rate"),
    "--max-new-tokens": ("max_new_tokens", int, "response length limit"),
    "--temperature": ("temperature", float, "rollout sampling temperature"),
    "--kl-mode": ("kl_mode", str, "fixed | adaptive"),
    "--init-kl-coef": ("init_kl_coef", float, "starting (or fixed) KL coefficient"),
    "--target-kl": ("target_kl", float, "adaptive mode: KL target"),
    "--seed": ("seed", int, "seed for sampling, prompt order and initialisation"),
    "--checkpoint-every": ("checkpoint_every", int, "save a checkpoint every K steps (0: at end)"),
    "--lr-schedule": ("lr_schedule", str, "constant | linear | cosine"),
    "--warmup-steps": ("warmup_steps", int, "steps of linear learning-rate warmup"),
    "--gradient-accumulation-steps": ("gradient_accumulation_steps", int, "minibatches/update"),
    "--max-grad-norm": ("max_grad_norm", float, "gradient clipping norm (0: none)"),
    "--gamma": ("gamma", float, "GAE discount"),
    "--lam": ("lam", float, "GAE lambda"),
    "--cliprange": ("cliprange", float, "PPO ratio clip"),
    "--cliprange-value": ("cliprange_value", float, "value prediction clip"),
    "--vf-coef": ("vf_coef", float, "value loss weight"),
    "--kl-horizon": ("kl_horizon", int, "adaptive mode: controller horizon in rollouts"),
    "--missing-eos-penalty": ("missing_eos_penalty", float, "score penalty without EOS"),
    "--samples-per-step": ("samples_per_step", int, "samples stored per step"),
    "--eval-prompts": ("eval_prompts", int, "prompts held out of training for eval/* metrics"),
    "--eval-every": ("eval_every", int, "steps between held-out evaluations (and the last)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ppo",
        help="train the model's LoRA adapter with PPO against one or more rewards",
        description="LoRA PPO. Defaults: the demo model, its built-in prompts and the "
        "sentiment reward. Checkpoints go to <workspace>/checkpoints/run-<id>/step-<N>/.",
    )
    add_model_arguments(parser)
    parser.add_argument("--prompts", type=Path, default=None, help=".txt, .jsonl or .csv file")
    parser.add_argument(
        "--reward",
        action="append",
        metavar="KIND[=ARG][@WEIGHT]",
        help="reward source, repeatable (several make a weighted sum); default: sentiment, "
        "or with --resume the run's reward at that checkpoint (its last AI round's RM)",
    )
    parser.add_argument("--config", type=Path, default=None, help="PPOConfig JSON file")
    for flag, (field, kind, text) in _CONFIG_FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)
    parser.add_argument(
        "--whiten-rewards",
        action="store_const",
        const=True,
        default=None,
        help="whiten the scores across each batch before the KL penalty",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="checkpoint folder to continue (same run; --steps then sets the new total)",
    )
    parser.add_argument(
        "--metrics-out", type=Path, default=None, help="write one JSON object per step here"
    )
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def ppo_config_from_args(args: argparse.Namespace) -> PPOConfig:
    """PPOConfig from --config (if given) overridden by the individual flags."""
    from dataclasses import replace

    config = load_json(PPOConfig, args.config) if args.config else PPOConfig()
    names = [field for field, _, _ in _CONFIG_FLAGS.values()] + ["whiten_rewards"]
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return replace(config, **overrides)


def run(args: argparse.Namespace) -> int:
    from core.models import ModelSession
    from core.ppo.launch import resume_run, start_run
    from core.progress import tqdm_progress
    from core.rewards import RewardContext, build_reward, parse_reward_specs
    from core.scoring import references_of
    from core.store import Store

    with Store.open(workspace_of(args)) as store:
        reward_specs = _reward_specs(args, store)
        parse_reward_specs(reward_specs)  # a typo fails now, not after the model has loaded
        prompts = prompts_for_run(store, args.prompts, _builtin_prompts(args.prompts))
        if args.resume is not None and args.prompt_format is None:
            args.prompt_format = _prompt_format_to_resume(args.resume)
        with tqdm_progress("loading model") as progress:
            session = ModelSession.load(model_spec_from_args(args), progress=progress)
        note_unused_chat_template(session)
        context = RewardContext(references=references_of(store), policy_session=session)
        reward = build_reward(reward_specs, context)
        if args.resume is not None:
            trainer = resume_run(
                store, args.resume, session, reward, prompts, args.steps, reward_specs
            )
        else:
            config = ppo_config_from_args(args)
            trainer = start_run(store, session, reward, prompts, config, reward_specs)
        _train(trainer, args.metrics_out)
        print(f"run {trainer.run_id}: {trainer.state} after {trainer.step_count} steps")
        if trainer.last_checkpoint is not None:
            print(f"last checkpoint: {trainer.last_checkpoint}")
    return 0


def _reward_specs(args: argparse.Namespace, store) -> list[str]:
    """--reward as given; on --resume without it, the reward the run had at its checkpoint."""
    if args.reward:
        return list(args.reward)
    if args.resume is None:
        return ["sentiment"]
    from core.ppo.launch import reward_specs_to_resume

    specs = reward_specs_to_resume(store, args.resume)
    print(f"resuming with the run's reward: {' '.join('--reward ' + s for s in specs)}")
    return specs


def _prompt_format_to_resume(checkpoint: Path) -> str:
    """The prompt format the checkpoint's policy was trained with (said when not plain)."""
    from core.ppo.checkpoint import prompt_format_of, read_meta, resolve_checkpoint

    prompt_format = prompt_format_of(read_meta(resolve_checkpoint(checkpoint)))
    if prompt_format != "plain":
        print(f"resuming with the run's prompt format: --prompt-format {prompt_format}")
    return prompt_format


def _builtin_prompts(prompts_file: Path | None) -> list[str]:
    """The demo prompt set, the default when no prompts file is named."""
    if prompts_file is not None:
        return []
    from core.demo import DEMO_PROMPTS

    return list(DEMO_PROMPTS)


def _train(trainer, metrics_out: Path | None) -> None:
    """Iterate the trainer with a progress bar; stream metrics to a JSONL file if asked."""
    from tqdm import tqdm

    print(session_memory_line(trainer.session, trainer.config), file=sys.stderr)
    health = HealthMonitor.for_config(trainer.config)
    mode = "a" if metrics_out is not None and trainer.step_count > 0 else "w"
    stream = metrics_out.open(mode, encoding="utf-8") if metrics_out is not None else None
    bar = tqdm(total=trainer.config.steps, initial=trainer.step_count, unit="step", disable=None)
    try:
        for result in trainer:
            metrics = result.metrics
            bar.update(1)
            bar.set_postfix(
                reward=f"{metrics['reward/mean']:.3f}", kl=f"{metrics['objective/kl']:.3f}"
            )
            _print_new_warnings(health, metrics)
            if stream is not None:
                stream.write(json.dumps(_finite(metrics)) + "\n")
                stream.flush()
    except KeyboardInterrupt:
        trainer.stop()
        raise
    finally:
        bar.close()
        if stream is not None:
            stream.close()


def _print_new_warnings(health: HealthMonitor, metrics: dict[str, float]) -> None:
    """The health warnings (core.ppo.health) that start at this step, on stderr above the
    progress bar: said once when they start, as the GUI's banner shows them while they hold."""
    from tqdm import tqdm

    for warning in health.new_warnings(metrics):
        tqdm.write(f"warning: {warning}", file=sys.stderr)


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN: write non-finite values as null."""
    return {k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in metrics.items()}
