"""The sharded (FSDP) scenarios of the two-process checks (tests/core/test_distributed.py),
run by tests/distributed_worker.py in the same two spawned processes. Weights and
gradients come back whole (DTensor.full_tensor, every rank taking part) so the test can
compare them with a one-process run's."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch

from tests import distributed_worker as worker


@contextmanager
def sharding():
    """RLHF_STUDIO_FSDP=1 inside the block: trainers built in it shard their model."""
    os.environ["RLHF_STUDIO_FSDP"] = "1"
    try:
        yield
    finally:
        del os.environ["RLHF_STUDIO_FSDP"]


def whole(values: dict) -> dict[str, torch.Tensor]:
    """Every DTensor of `values` gathered whole (a collective, in the same key order)."""
    from torch.distributed.tensor import DTensor

    return {
        key: (value.full_tensor() if isinstance(value, DTensor) else value).detach().clone()
        for key, value in values.items()
    }


def full_weights(trainer) -> dict[str, torch.Tensor]:
    return whole({f"w.{i}": p for i, p in enumerate(trainer._parameters)})


def sharded_ppo_update(model_dir: str, world) -> dict:
    """The fixed-rollout PPO update (distributed_worker.ppo_update) on a sharded model,
    and how much of the model each rank stores."""
    from core.model.sharding import local_numel
    from core.ppo import PPOTrainer

    with sharding():
        trainer = PPOTrainer(
            worker.load_session(model_dir), worker.LetterReward(), worker.PROMPTS,
            worker.PPO_UPDATE,
        )  # fmt: skip
    start, stop = world.shard_bounds(worker.PPO_UPDATE.batch_size)
    step = trainer.optimizer.step
    recorded: dict[str, torch.Tensor] = {}

    def recording_step(*args, **kwargs):
        recorded.update(whole({f"grad.{i}": p.grad for i, p in enumerate(trainer._parameters)}))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    result = worker.ppo_update(trainer, slice(start, stop))  # its own grads: shards
    named = {k: v for k, v in result.items() if not k.startswith("grad.")}
    local, total = local_numel(trainer.session.model)
    return {
        "update": recorded | whole(named),
        "sharded": trainer.sharded,
        "numel": (local, total),
    }


def sharded_dpo_step(model_dir: str) -> dict:
    from core.offline.dpo import DPOTrainer

    with sharding():
        trainer = DPOTrainer(worker.load_session(model_dir), None, worker.PAIRS, worker.DPO_STEP)
    metrics = trainer.step().metrics
    return {"weights": full_weights(trainer), "metrics": metrics}


def sharded_grpo_step(model_dir: str) -> dict:
    from core.grpo.trainer import GRPOTrainer

    with sharding():
        trainer = GRPOTrainer(
            worker.load_session(model_dir), worker.LetterReward(), worker.PROMPTS,
            worker.GRPO_STEP,
        )  # fmt: skip
    trainer.step()
    return {"weights": full_weights(trainer)}


def sharded_ppo_run(model_dir: str, world, workspace: str) -> dict:
    """A two-process sharded PPO run with held-out evaluation, samples and a checkpoint:
    rank 0 owns the store, rank 1 follows and helps gather the checkpoint."""
    from core.ppo import PPOTrainer
    from core.store import Store
    from core.train.distributed import follow
    from core.train.launch import Algorithm, start_run

    session = worker.load_session(model_dir)
    with sharding():
        if not world.is_main:
            trainer = PPOTrainer(session, worker.LetterReward(), worker.PROMPTS, worker.PPO_RUN)
            follow(trainer.step, world, trainer.save_checkpoint)
            return {"weights": full_weights(trainer)}
        with Store.open(Path(workspace)) as store:
            run = start_run(
                store,
                Algorithm.of(PPOTrainer),
                session,
                worker.LetterReward(),
                worker.PROMPTS,
                worker.PPO_RUN,
            )
            events = list(run)
    return {
        "weights": full_weights(run.trainer),
        "metrics": [event.metrics for event in events],
        "samples": [len(event.samples) for event in events],
        "checkpoint": str(run.last_checkpoint),
    }


def sharded_resume(model_dir: str, checkpoint: str) -> dict:
    """A one-process checkpoint resumed sharded (adapter and optimiser state), one step on."""
    from core.ppo import PPOTrainer

    with sharding():
        trainer = PPOTrainer.resume(
            Path(checkpoint), worker.load_session(model_dir), worker.LetterReward(),
            worker.PROMPTS, 2,
        )  # fmt: skip
    resumed = full_weights(trainer)
    trainer.step()
    return {"resumed": resumed, "weights": full_weights(trainer)}


def scenario_fsdp(model_dir: str, world, paths: dict) -> dict:
    """Every sharded scenario, in order (each is a collective over both ranks)."""
    return {
        "ppo_update": sharded_ppo_update(model_dir, world),
        "dpo_step": sharded_dpo_step(model_dir),
        "grpo_step": sharded_grpo_step(model_dir),
        "ppo_run": sharded_ppo_run(model_dir, world, paths["fsdp_workspace"]),
        "resume": sharded_resume(model_dir, paths["one_process_checkpoint"]),
    }
