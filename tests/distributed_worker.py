"""One rank of the two-process checks of tests/core/test_distributed.py, started by
torch.multiprocessing.spawn on the gloo backend. Each scenario saves what the test
compares to <out>/<scenario>-rank<N>.pt; the test process (one process, world size 1)
computes the single-process side itself."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.config import ModelSpec, PPOConfig, RMConfig
from core.config.critic_free import GRPOConfig
from core.model.session import ModelSession
from core.offline.config import DPOConfig
from core.reward_model.training import PreferencePair

PROMPTS = ["I loved", "The movie was", "Terrible", "The blender", "Boring plot", "Great"]
PPO_RUN = PPOConfig(
    steps=2,
    batch_size=4,
    mini_batch_size=2,
    ppo_epochs=2,
    max_new_tokens=6,
    samples_per_step=1,
    eval_prompts=1,
    eval_every=1,
    checkpoint_every=2,
    learning_rate=1e-2,
    seed=3,
)
PPO_UPDATE = PPOConfig(batch_size=4, mini_batch_size=4, ppo_epochs=1, max_new_tokens=5, seed=5)
GRPO_STEP = GRPOConfig(
    steps=1, batch_size=4, group_size=2, mini_batch_size=2, max_new_tokens=5, beta=0.1, seed=2
)
DPO_STEP = DPOConfig(steps=1, batch_size=4, micro_batch_size=2, eval_fraction=0.0, seed=4)
PAIRS = [
    PreferencePair(f"Review {i}:", "I loved the story and the music.", f"Boring plot {i}.")
    for i in range(8)
]
RM_CONFIG_FIELDS = dict(epochs=1, batch_size=4, eval_fraction=0.25, seed=1)


class LetterReward:
    """Share of the letter 'e' in the response: deterministic, varies between samples."""

    name = "letter_e"

    def score(self, prompts, responses):
        return [text.count("e") / max(1, len(text)) for text in responses]


def load_session(model_dir: str) -> ModelSession:
    """The tiny model with a LoRA adapter, initialised the same in every process."""
    torch.manual_seed(0)
    return ModelSession.load(ModelSpec(name_or_path=model_dir, device="cpu"))


def trainable(session, *modules) -> dict[str, torch.Tensor]:
    weights = {
        name: p.detach().clone() for name, p in session.model.named_parameters() if p.requires_grad
    }
    for index, module in enumerate(modules):
        weights |= {f"{index}.{n}": p.detach().clone() for n, p in module.named_parameters()}
    return weights


# ------------------------------------------------------- the fixed-rollout PPO update


def fixed_ppo_batch(trainer):
    """A batch every process builds alike: sampled with a fixed seed, every response
    token kept (equal token counts per row), with old log-probs, values, advantages and
    returns. Returns (rollout, advantages, returns), all (B, ...)."""
    from core.onpolicy.rollout import collect_rollout, forward_response

    config = trainer.config
    queries = trainer._query_ids[: config.batch_size]
    rollout = collect_rollout(
        trainer.session, trainer.value_head, queries, trainer._generation, 11, config.batch_size
    )
    rollout.response_mask = torch.ones_like(rollout.response_mask)
    with torch.no_grad():
        out = forward_response(
            trainer.session.model, trainer.value_head, rollout, config.temperature
        )
    rollout.logprobs, rollout.values = out.logprobs, out.values
    generator = torch.Generator().manual_seed(7)
    advantages = torch.randn(rollout.logprobs.shape, generator=generator)
    returns = torch.randn(rollout.logprobs.shape, generator=generator)
    return rollout, advantages, returns


def ppo_update(trainer, rows: slice) -> dict[str, torch.Tensor]:
    """One `_update` of `trainer` on rows `rows` of the fixed batch: the gradients it
    stepped with (after the all-reduce) and the weights after."""
    rollout, advantages, returns = fixed_ppo_batch(trainer)
    index = torch.arange(rollout.logprobs.shape[0])[rows]
    mine, adv, ret = rollout.select(index), advantages[index], returns[index]
    grads: dict[str, torch.Tensor] = {}
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads.update({f"grad.{i}": p.grad.clone() for i, p in enumerate(trainer._parameters)})
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    with torch.enable_grad():
        trainer._update(mine, lambda i, batch: trainer._loss(batch, adv[i], ret[i]))
    return grads | trainable(trainer.session, trainer.value_head)


# ----------------------------------------------------------------------- scenarios


def batch_statistics_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """(values, mask), both (4, 5): a batch with ragged masks, the same in every process."""
    generator = torch.Generator().manual_seed(3)
    values = torch.randn((4, 5), generator=generator)
    mask = (torch.rand((4, 5), generator=generator) > 0.3).float()
    return values, mask


def scenario_statistics(world) -> dict:
    """Whitening, stds and metrics over ranks, each rank holding two rows of the batch."""
    values, mask = batch_statistics_inputs()
    start, stop = world.shard_bounds(len(values))
    rows, row_mask = values[start:stop], mask[start:stop]
    metrics = {"a": float(world.rank), "perf/step_time_s": 1.0 + world.rank,
               "perf/samples_per_s": 10.0 - world.rank}  # fmt: skip
    return {
        "whitened": world.gather(world.masked_whiten(rows, row_mask)),
        "kept_mean": world.gather(world.masked_whiten(rows, row_mask, shift_mean=False)),
        "std": world.gather(rows[:, 0]).std(),
        "metrics": world.reduce_metrics(metrics),
    }


def scenario_ppo_update(model_dir: str, world) -> dict:
    from core.ppo import PPOTrainer

    trainer = PPOTrainer(load_session(model_dir), LetterReward(), PROMPTS, PPO_UPDATE)
    start, stop = world.shard_bounds(PPO_UPDATE.batch_size)
    return ppo_update(trainer, slice(start, stop))


def scenario_grpo_step(model_dir: str, world) -> dict:
    from core.grpo.trainer import GRPOTrainer

    trainer = GRPOTrainer(load_session(model_dir), LetterReward(), PROMPTS, GRPO_STEP)
    metrics = trainer.step().metrics
    return {"weights": trainer_weights(trainer), "metrics": metrics}


def scenario_dpo_step(model_dir: str, world) -> dict:
    from core.offline.dpo import DPOTrainer

    trainer = DPOTrainer(load_session(model_dir), None, PAIRS, DPO_STEP)
    metrics = trainer.step().metrics
    return {"weights": trainer_weights(trainer), "metrics": metrics}


def trainer_weights(trainer) -> dict[str, torch.Tensor]:
    return {f"w.{i}": p.detach().clone() for i, p in enumerate(trainer._parameters)}


def scenario_ppo_run(model_dir: str, world, workspace: str) -> dict:
    """A fresh two-process PPO run: rank 0 owns the store and the run, rank 1 follows."""
    from core.ppo import PPOTrainer
    from core.store import Store
    from core.train.distributed import follow
    from core.train.launch import Algorithm, start_run

    session = load_session(model_dir)
    if not world.is_main:
        trainer = PPOTrainer(session, LetterReward(), PROMPTS, PPO_RUN)
        follow(trainer.step, world)
        return {"weights": trainer_weights(trainer), "steps": trainer.step_count}
    with Store.open(Path(workspace)) as store:
        run = start_run(store, Algorithm.of(PPOTrainer), session, LetterReward(), PROMPTS, PPO_RUN)
        steps = [event.metrics for event in run]
        result = {"weights": trainer_weights(run.trainer), "steps": run.step_count}
        return result | {"metrics": steps, "checkpoint": str(run.last_checkpoint)}


def scenario_ppo_resume(model_dir: str, world, checkpoint: str, workspace: str) -> dict:
    """A one-process checkpoint (step 1) continued by two processes to step 2."""
    from core.ppo import PPOTrainer
    from core.store import Store
    from core.train.distributed import follow
    from core.train.launch import Algorithm, resume_run

    session = load_session(model_dir)
    if not world.is_main:
        trainer = PPOTrainer.resume(Path(checkpoint), session, LetterReward(), PROMPTS, 2)
        resumed = trainer_weights(trainer)
        follow(trainer.step, world)
        return {"resumed": resumed, "weights": trainer_weights(trainer)}
    with Store.open(Path(workspace)) as store:
        run = resume_run(
            store, Algorithm.of(PPOTrainer), Path(checkpoint), session, LetterReward(), PROMPTS, 2
        )
        resumed = trainer_weights(run.trainer)
        metrics = [event.metrics for event in run]
        result = {"resumed": resumed, "weights": trainer_weights(run.trainer)}
        return result | {"metrics": metrics, "checkpoint": str(run.last_checkpoint)}


def scenario_reward_model(model_dir: str, world, out: str) -> dict:
    """A two-process reward model: every rank trains, rank 0 alone saves."""
    import core.reward_model.training as reward_model
    from core.reward_model import fit as rm_fit

    config = RMConfig(base=model_dir, **RM_CONFIG_FIELDS)
    captured: dict[str, torch.Tensor] = {}
    fit = rm_fit.fit

    def capturing_fit(model, *args):
        result = fit(model, *args)
        captured.update(
            {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        )
        return result

    rm_fit.fit = capturing_fit
    try:
        result = reward_model.train_reward_model(PAIRS, config, out, device="cpu")
    finally:
        rm_fit.fit = fit
    return {"saved": bool(result.meta), "weights": captured, "loss": result.best.train_loss}


def cli_commands(model_dir: str, workspace: str) -> dict[str, list[str]]:
    """Every training command, tiny, in the workspace the test filled with comparisons."""
    model = ["--model", model_dir, "--device", "cpu", "--workspace", workspace]
    on_policy = ["--steps", "2", "--batch-size", "4", "--mini-batch-size", "2",
                 "--max-new-tokens", "4", "--eval-prompts", "0"]  # fmt: skip
    offline = ["--steps", "2", "--batch-size", "4", "--micro-batch-size", "2",
               "--max-response-tokens", "8"]  # fmt: skip
    return {
        "ppo": ["ppo", *model, *on_policy],
        "grpo": ["grpo", *model, *on_policy, "--group-size", "2"],
        "rloo": ["rloo", *model, *on_policy, "--group-size", "2"],
        "dpo": ["dpo", *model, *offline],
        "kto": ["kto", *model, *offline],
        "sft": ["sft", *model, *offline],
        "sft-fsdp": ["sft", *model, *offline],  # sharded: RLHF_STUDIO_FSDP=1 (scenario_cli)
        "train-rm": [
            "train-rm",
            "--base",
            model_dir,
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--workspace",
            workspace,
        ],  # fmt: skip
    }


def scenario_cli(model_dir: str, workspace: str) -> dict:
    """`python -m core <command>` as torchrun runs it on this rank: (exit code, stdout)."""
    import contextlib
    import io

    from core.cli import main
    from core.train import distributed

    leave = distributed.leave_process_group
    distributed.leave_process_group = lambda: None  # later commands use the same group
    results = {}
    try:
        for name, argv in cli_commands(model_dir, workspace).items():
            stdout = io.StringIO()
            if name.endswith("-fsdp"):
                os.environ["RLHF_STUDIO_FSDP"] = "1"
            with contextlib.redirect_stdout(stdout):
                code = main(argv)
            os.environ.pop("RLHF_STUDIO_FSDP", None)
            results[name] = (code, stdout.getvalue())
    finally:
        distributed.leave_process_group = leave
    return results


def run_rank(rank: int, size: int, port: int, out: str, model_dir: str, paths: dict) -> None:
    """The entry point of one spawned process."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from core.train.distributed import current_world, leave_process_group
    from tests.fsdp_worker import scenario_fsdp

    world = current_world()
    results = {
        "statistics": scenario_statistics(world),
        "ppo_update": scenario_ppo_update(model_dir, world),
        "grpo_step": scenario_grpo_step(model_dir, world),
        "dpo_step": scenario_dpo_step(model_dir, world),
        "ppo_run": scenario_ppo_run(model_dir, world, paths["run_workspace"]),
        "ppo_resume": scenario_ppo_resume(
            model_dir, world, paths["one_process_checkpoint"], paths["resume_workspace"]
        ),
        "fsdp": scenario_fsdp(model_dir, world, paths),
        "reward_model": scenario_reward_model(model_dir, world, paths["rm_out"]),
        "cli": scenario_cli(model_dir, paths["cli_workspace"]),
    }
    torch.save(results, Path(out) / f"rank{rank}.pt")
    leave_process_group()
