"""Training over several processes (core/train/distributed.py) on this CPU: two processes
on the gloo backend, started once by torch.multiprocessing.spawn for every check below
(tests/distributed_worker.py runs the scenarios); this process is the one-process side."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from core.cli import main
from core.errors import TrainingError
from core.model.sharding import (
    check_sharded_config,
    fsdp_requested,
    is_sharded,
    load_whole_on_every_rank,
    shard_session,
)
from core.ppo.trainer import PPOTrainer
from core.store import Store
from core.train import distributed
from core.train.checkpoints import list_checkpoints
from core.train.distributed import World, lone_cpu_launch, world_from_env
from core.train.launch import Algorithm, resume_run, start_run
from tests import distributed_worker as worker

PPO = Algorithm.of(PPOTrainer)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tiny_model_dir, tmp_path_factory):
    """Run every scenario in two processes once: (their results by rank, the paths used).
    First a one-process PPO run leaves the step-1 checkpoint they continue."""
    root = tmp_path_factory.mktemp("distributed")
    names = ("run_workspace", "resume_workspace", "cli_workspace", "fsdp_workspace", "rm_out")
    paths = {name: root / name for name in names}
    for name in names[:4]:
        paths[name].mkdir()
    _store_comparisons(paths["cli_workspace"], root / "pairs.jsonl")
    session = worker.load_session(str(tiny_model_dir))
    with Store.open(paths["resume_workspace"]) as store:
        run = start_run(store, PPO, session, worker.LetterReward(), worker.PROMPTS,
                        replace(worker.PPO_RUN, steps=1))  # fmt: skip
        list(run)
    paths["one_process_checkpoint"] = run.last_checkpoint
    one_process_weights = worker.trainer_weights(run.trainer)
    out = root / "results"
    out.mkdir()
    as_text = {name: str(path) for name, path in paths.items()}
    paths["one_process_weights"] = one_process_weights
    mp.spawn(
        worker.run_rank,
        args=(2, _free_port(), str(out), str(tiny_model_dir), as_text),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in (0, 1)]
    return ranks, paths


def _store_comparisons(workspace: Path, file: Path) -> None:
    """Eight preference pairs in the workspace: the offline commands' and train-rm's data."""
    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in worker.PAIRS]
    file.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert (
        main(["import-pairs", str(file), "--rater", "tester", "--workspace", str(workspace)]) == 0
    )


def assert_same(left: dict, right: dict, atol: float = 0.0) -> None:
    assert left.keys() == right.keys() and left
    for name in left:
        assert torch.allclose(left[name], right[name], rtol=0, atol=atol), name


# ------------------------------------------------------------ the world, one process


def test_one_process_is_the_plain_path():
    world = world_from_env({})
    assert world == World() and not world.is_distributed and world.is_main
    assert distributed.current_world().size == 1  # no WORLD_SIZE here: no process group
    assert not torch.distributed.is_initialized()
    values = torch.tensor([1.0, 2.0])
    assert world.sum(values) is values and world.mean(2.5) == 2.5
    assert world.shard([1, 2, 3]) == [1, 2, 3] and world.sampling_seed(9) == 9
    assert world.reduce_metrics({"a": 1.0}) == {"a": 1.0} and world.agree(False) is False
    assert world.device("auto") == "auto"


@pytest.mark.parametrize(
    ("nccl", "gpu", "backend"),
    [(False, False, "gloo"), (True, False, "gloo"), (True, True, "cpu:gloo,cuda:nccl")],
)
def test_nccl_joins_only_where_a_gpu_can_run_it(monkeypatch, nccl, gpu, backend):
    # A CUDA build of torch without a GPU has NCCL, and torch 2.14 refused to create its
    # group there ("no GPUs found"): every multi-process run on such a laptop failed.
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: nccl)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert distributed.process_group_backend() == backend


def test_ranks_take_contiguous_shares_and_their_own_seeds():
    env = {"WORLD_SIZE": "3", "RANK": "2", "LOCAL_RANK": "0"}
    assert world_from_env(env) == World(rank=2, size=3, local_rank=0)
    shares = [World(rank, 3).shard(list(range(7))) for rank in range(3)]
    assert shares == [[0, 1, 2], [3, 4], [5, 6]]
    assert World(0, 2).sampling_seed(5) == 5 != World(1, 2).sampling_seed(5)
    mpi = {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}  # accelerate --cpu + mpirun
    assert world_from_env(mpi) == World(rank=1, size=2, local_rank=1)


def test_a_lone_cpu_launch_is_told_how_to_start_several_processes():
    accelerate_cpu = {"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1"}
    assert lone_cpu_launch(accelerate_cpu)
    assert not lone_cpu_launch({**accelerate_cpu, "WORLD_SIZE": "2"})
    assert not lone_cpu_launch({"ACCELERATE_USE_CPU": "True"})  # --num_processes 1
    assert "--multi_gpu --num_processes N" in distributed.LONE_CPU_NOTE


# ------------------------------------------------------------------ two processes


def test_every_rank_ends_each_step_with_the_same_weights(two_processes):
    (rank0, rank1), _ = two_processes
    assert_same(rank0["ppo_update"], rank1["ppo_update"])
    for scenario in ("grpo_step", "dpo_step", "ppo_run", "ppo_resume", "reward_model"):
        assert_same(rank0[scenario]["weights"], rank1[scenario]["weights"])
    assert rank0["ppo_run"]["steps"] == rank1["ppo_run"]["steps"] == 2


def test_two_half_batches_update_as_one_process_on_the_whole_batch(two_processes, tiny_model_dir):
    from core.offline.dpo import DPOTrainer
    from core.ppo import PPOTrainer

    (rank0, _), _ = two_processes
    session = worker.load_session(str(tiny_model_dir))
    trainer = PPOTrainer(session, worker.LetterReward(), worker.PROMPTS, worker.PPO_UPDATE)
    single = worker.ppo_update(trainer, slice(0, worker.PPO_UPDATE.batch_size))
    assert_same(single, rank0["ppo_update"], atol=1e-6)  # gradients, LoRA and value head
    trainer = DPOTrainer(worker.load_session(str(tiny_model_dir)), None, worker.PAIRS,
                         worker.DPO_STEP)  # fmt: skip
    metrics = trainer.step().metrics
    assert_same(worker.trainer_weights(trainer), rank0["dpo_step"]["weights"], atol=1e-6)
    assert rank0["dpo_step"]["metrics"]["loss"] == pytest.approx(metrics["loss"], abs=1e-6)
    # Sharded (FSDP): the same update, gathered whole
    assert_same(single, rank0["fsdp"]["ppo_update"]["update"], atol=1e-5)
    assert_same(worker.trainer_weights(trainer), rank0["fsdp"]["dpo_step"]["weights"], atol=1e-5)
    assert rank0["fsdp"]["dpo_step"]["metrics"]["loss"] == pytest.approx(metrics["loss"], abs=1e-5)


def test_batch_statistics_over_ranks_are_the_whole_batchs(two_processes):
    from core.onpolicy.maths import masked_whiten

    (rank0, rank1), _ = two_processes
    values, mask = worker.batch_statistics_inputs()
    for rank in (rank0, rank1):
        got = rank["statistics"]
        assert torch.allclose(got["whitened"], masked_whiten(values, mask), atol=1e-6)
        kept = masked_whiten(values, mask, shift_mean=False)
        assert torch.allclose(got["kept_mean"], kept, atol=1e-6)
        assert torch.allclose(got["std"], values[:, 0].std(), atol=1e-6)
        assert got["metrics"] == {"a": 0.5, "perf/step_time_s": 2.0, "perf/samples_per_s": 9.0}


def test_rank_zero_alone_records_the_run_with_its_world_size(two_processes):
    (rank0, _), paths = two_processes
    metrics = rank0["ppo_run"]["metrics"]
    assert [m["dist/world_size"] for m in metrics] == [2.0, 2.0]
    assert all("eval/reward/mean" in m for m in metrics)  # rank 0 evaluates
    assert metrics[0]["perf/samples_per_s"] == pytest.approx(
        worker.PPO_RUN.batch_size / metrics[0]["perf/step_time_s"]
    )  # the global batch over the slowest rank's time
    for key in ("grpo_step", "dpo_step"):
        assert rank0[key]["metrics"]["dist/world_size"] == 2.0
    with Store.open(paths["run_workspace"]) as store:
        (run,) = store.runs("ppo")
        assert run.status == "finished"
        assert [row["step"] for row in store.metrics(run.id)] == [1, 2]
    checkpoint = Path(rank0["ppo_run"]["checkpoint"])
    assert [p.name for p in list_checkpoints(checkpoint.parent)] == ["step-2"]
    assert rank0["reward_model"]["saved"] and (paths["rm_out"] / "rm_meta.json").is_file()


def test_one_process_checkpoint_goes_on_in_two_processes(two_processes):
    (rank0, rank1), paths = two_processes
    for rank in (rank0, rank1):
        assert_same(rank["ppo_resume"]["resumed"], paths["one_process_weights"])
    assert [m["step"] for m in rank0["ppo_resume"]["metrics"]] == [2.0]
    assert rank0["ppo_resume"]["metrics"][0]["dist/world_size"] == 2.0
    with Store.open(paths["resume_workspace"]) as store:
        (run,) = store.runs("ppo")  # the same run, continued
        assert run.status == "finished"
        assert [row["step"] for row in store.metrics(run.id)] == [1, 2]
    checkpoint = Path(rank0["ppo_resume"]["checkpoint"])
    assert checkpoint.parent == paths["one_process_checkpoint"].parent
    assert [p.name for p in list_checkpoints(checkpoint.parent)] == ["step-1", "step-2"]


def test_two_process_checkpoint_goes_on_in_one_process(two_processes, tiny_model_dir):
    (rank0, _), paths = two_processes
    session = worker.load_session(str(tiny_model_dir))
    with Store.open(paths["run_workspace"]) as store:
        checkpoint = Path(rank0["ppo_run"]["checkpoint"])
        run = resume_run(store, PPO, checkpoint, session, worker.LetterReward(), worker.PROMPTS, 3)
        assert_same(worker.trainer_weights(run.trainer), rank0["ppo_run"]["weights"])
        metrics = [event.metrics for event in run]
    assert run.status == "finished" and run.step_count == 3
    assert [m["dist/world_size"] for m in metrics] == [1.0]


def test_every_training_command_runs_in_two_processes_and_rank_zero_alone_prints(
    two_processes,
):
    (rank0, rank1), paths = two_processes
    for command in worker.cli_commands("model", "workspace"):
        code, stdout = rank0["cli"][command]
        assert code == 0, (command, stdout)
        assert rank1["cli"][command] == (0, ""), command  # no output, no adapter line
    assert rank0["cli"]["sft"][1].strip().splitlines()[-1].endswith("adapter")
    assert "saved to" in rank0["cli"]["train-rm"][1]
    with Store.open(paths["cli_workspace"]) as store:
        runs = {run.kind: run for run in store.runs()}
        for kind in ("ppo", "grpo", "rloo", "dpo", "kto", "sft"):
            assert runs[kind].status == "finished", kind
            steps = store.metrics(runs[kind].id)
            assert [m["dist/world_size"] for m in steps] == [2.0, 2.0], kind
        assert runs["reward_model"].status == "finished"
        sft_runs = [run for run in store.runs() if run.kind == "sft"]  # plain, then sharded
        assert [run.status for run in sft_runs] == ["finished", "finished"]
    sharded_adapter = Path(rank0["cli"]["sft-fsdp"][1].strip().splitlines()[-1])
    assert (sharded_adapter / "adapter_model.safetensors").is_file()


# ------------------------------------------------------------------ sharded (FSDP)


def test_fsdp_is_asked_for_by_accelerates_config_or_the_studio_switch(tiny_model_dir, monkeypatch):
    assert fsdp_requested({"ACCELERATE_USE_FSDP": "true"})  # accelerate/fsdp.yaml
    assert fsdp_requested({"RLHF_STUDIO_FSDP": "1"})  # torchrun
    assert not fsdp_requested({}) and not fsdp_requested({"ACCELERATE_USE_FSDP": "false"})
    monkeypatch.setenv("RLHF_STUDIO_FSDP", "1")
    session = worker.load_session(str(tiny_model_dir))
    assert not shard_session(session, World())  # one process: the plain path
    assert not is_sharded(session.model)


def test_what_a_sharded_model_cannot_run_is_refused_in_one_line():
    from core.offline.config import DPOConfig

    two = World(rank=0, size=2)
    with pytest.raises(TrainingError, match="logits_chunk_size"):
        check_sharded_config(two, DPOConfig(logits_chunk_size=64), {})
    with pytest.raises(TrainingError, match="Gradient checkpointing"):
        check_sharded_config(two, DPOConfig(gradient_checkpointing=True), {})
    with pytest.raises(TrainingError, match="batch_size \\(3\\) must be a multiple"):
        check_sharded_config(two, DPOConfig(), {"batch_size": 3})
    env = {"FSDP_CPU_RAM_EFFICIENT_LOADING": "true"}  # accelerate's rank-0-only loading
    load_whole_on_every_rank(env)
    assert env == {"FSDP_CPU_RAM_EFFICIENT_LOADING": "false"}


def test_sharded_ranks_each_hold_half_the_model_and_end_each_step_alike(two_processes):
    (rank0, rank1), _ = two_processes
    (local0, total), (local1, total1) = (r["fsdp"]["ppo_update"]["numel"] for r in (rank0, rank1))
    assert rank0["fsdp"]["ppo_update"]["sharded"] and total == total1
    assert local0 + local1 == total  # every weight stored once, on one rank
    assert 0.45 * total < local0 < 0.55 * total
    assert_same(rank0["fsdp"]["ppo_update"]["update"], rank1["fsdp"]["ppo_update"]["update"])
    for scenario in ("dpo_step", "grpo_step", "ppo_run", "resume"):
        assert_same(rank0["fsdp"][scenario]["weights"], rank1["fsdp"][scenario]["weights"])
    # GRPO sharded trains the same step as GRPO unsharded over two processes.
    assert_same(rank0["fsdp"]["grpo_step"]["weights"], rank0["grpo_step"]["weights"], atol=1e-5)


def test_a_sharded_run_evaluates_samples_and_checkpoints_as_one_process_does(
    two_processes, tiny_model_dir
):
    (rank0, _), paths = two_processes
    sharded = rank0["fsdp"]["ppo_run"]
    assert [m["dist/world_size"] for m in sharded["metrics"]] == [2.0, 2.0]
    assert all("eval/reward/mean" in m for m in sharded["metrics"])
    assert sharded["samples"] == [worker.PPO_RUN.samples_per_step] * 2
    checkpoint = Path(sharded["checkpoint"])
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    session = worker.load_session(str(tiny_model_dir))
    with Store.open(paths["fsdp_workspace"]) as store:  # the sharded checkpoint, one process
        run = resume_run(store, PPO, checkpoint, session, worker.LetterReward(), worker.PROMPTS, 3)
        assert_same(worker.trainer_weights(run.trainer), sharded["weights"])
        list(run)
    assert run.status == "finished" and run.step_count == 3


def test_a_one_process_checkpoint_goes_on_sharded(two_processes):
    (rank0, rank1), paths = two_processes
    for rank in (rank0, rank1):
        assert_same(rank["fsdp"]["resume"]["resumed"], paths["one_process_weights"])
    # Its step 2 (adapter and optimiser state resharded) is the unsharded two-process one.
    assert_same(rank0["fsdp"]["resume"]["weights"], rank0["ppo_resume"]["weights"], atol=1e-5)
