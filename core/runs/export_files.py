"""The launchers of an export folder (core.runs.export): accelerate configs, launch.sh and
the SLURM batch script, as text or data ready to write.

The accelerate configs have the keys `accelerate config` writes; launch.sh's flags
(--num_processes, --num_machines, --machine_rank, --main_process_ip) override theirs,
so one file serves one GPU, eight, or several nodes.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

ACCELERATE_DIR = "accelerate"
DDP_CONFIG = "ddp.yaml"
FSDP_CONFIG = "fsdp.yaml"
LAUNCH_SCRIPT = "launch.sh"
SLURM_SCRIPT = "slurm.sbatch"
DEFAULT_PORT = 29500


DDP_HEADER = """\
# accelerate config (the keys `accelerate config` writes), from rlhf-studio-cli export-run:
# data parallel over every GPU. launch.sh's flags set the number of processes and machines.
"""
FSDP_HEADER = """\
# accelerate config (the keys `accelerate config` writes), from rlhf-studio-cli export-run:
# FSDP full shard for bases too large to replicate: launched with this file
# (ACCELERATE_USE_FSDP) the LoRA trainers shard the base and adapter per decoder layer
# with torch's FSDP2 (core/model/sharding.py, docs/scaling.md); the reward model does not.
"""


def _common_accelerate_config() -> dict[str, Any]:
    return {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "downcast_bf16": "no",
        "enable_cpu_affinity": False,
        "gpu_ids": "all",
        "machine_rank": 0,
        "main_training_function": "main",
        "num_machines": 1,
        "num_processes": 8,
        "rdzv_backend": "static",
        "same_network": True,
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "use_cpu": False,
    }


def accelerate_ddp_config() -> dict[str, Any]:
    """Multi-GPU data parallel: every process holds the whole model; gradients are
    averaged. The trainer picks its own dtype (--dtype), so no mixed precision here."""
    return {
        **_common_accelerate_config(),
        "distributed_type": "MULTI_GPU",
        "mixed_precision": "no",
    }


def accelerate_fsdp_config() -> dict[str, Any]:
    """FSDP full shard, for bases whose weights, gradients and optimiser state do not fit
    one GPU: parameters sharded across all processes, wrapped per transformer block."""
    return {
        **_common_accelerate_config(),
        "distributed_type": "FSDP",
        "mixed_precision": "bf16",
        "fsdp_config": {
            "fsdp_version": 1,
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_forward_prefetch": False,
            # LoRA trains a few parameters among frozen ones: FSDP must keep the originals.
            "fsdp_use_orig_params": True,
            # Every rank loads the base, then keeps its shard (the trainers shard it).
            "fsdp_cpu_ram_efficient_loading": False,
            "fsdp_sync_module_states": True,
            "fsdp_offload_params": False,
            # Rank 0 alone writes checkpoints: it gathers the (small) adapter whole.
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_activation_checkpointing": False,
        },
    }


_LAUNCH = """#!/usr/bin/env bash
# Trains exported run @@RUN_ID@@ (@@NAME@@, @@KIND@@) again with `accelerate launch`, on
# the machine it runs on. Needs RLHF Studio (so `python -m core` runs) and accelerate.
#
# Settings, from the environment:
#   NUM_PROCESSES      processes in all, over every machine (default: the GPUs
#                      nvidia-smi lists here, else 1)
#   NUM_MACHINES       machines in all (default 1); MACHINE_RANK: this one's (default 0)
#   MAIN_PROCESS_IP    address of machine 0 (needed when NUM_MACHINES > 1)
#   MAIN_PROCESS_PORT  its port (default @@PORT@@)
#   ACCELERATE_CONFIG  accelerate/ddp.yaml (default) or accelerate/fsdp.yaml
#   WORKSPACE          where the run's store, checkpoints and metrics go (default:
#                      workspace/ in this folder); `rlhf-studio-cli import-run` reads it
#   MODEL              the base model (default: the run's, @@MODEL@@)
#   USE_CPU=1          train on the CPU (the default when no GPU is found)
#   RESUME             a checkpoint folder to continue (any number of processes)
#   ACCELERATE         the accelerate command (default: accelerate)
# Arguments go to the trainer and override config.yaml, e.g. ./launch.sh --steps 200
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORKSPACE="${WORKSPACE:-$HERE/workspace}"
mkdir -p "$WORKSPACE"
WORKSPACE="$(cd "$WORKSPACE" && pwd)"
if [ -n "${RESUME:-}" ]; then RESUME="$(cd "$RESUME" && pwd)"; fi
cd "$HERE"  # the prompts, rewards and adapter are named relative to this folder

GPUS=0
if command -v nvidia-smi >/dev/null 2>&1; then
  GPUS="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
fi
NUM_PROCESSES="${NUM_PROCESSES:-$(( GPUS > 0 ? GPUS : 1 ))}"
if [ "$GPUS" -eq 0 ]; then USE_CPU="${USE_CPU:-1}"; fi

LAUNCH=(--config_file "${ACCELERATE_CONFIG:-@@DDP@@}"
        --num_processes "$NUM_PROCESSES"
        --num_machines "${NUM_MACHINES:-1}"
        --machine_rank "${MACHINE_RANK:-0}"
        --main_process_port "${MAIN_PROCESS_PORT:-@@PORT@@}")
if [ -n "${MAIN_PROCESS_IP:-}" ]; then LAUNCH+=(--main_process_ip "$MAIN_PROCESS_IP"); fi
if [ "${USE_CPU:-0}" = 1 ]; then
  # `accelerate launch --cpu` starts one process (several need an MPI hostfile); with the
  # GPUs hidden, the DDP config starts NUM_PROCESSES CPU processes (gloo) instead.
  if [ "$NUM_PROCESSES" -eq 1 ]; then LAUNCH+=(--cpu); else export CUDA_VISIBLE_DEVICES=""; fi
fi

REWARDS=()
while IFS= read -r spec || [ -n "$spec" ]; do
  if [ -n "$spec" ]; then REWARDS+=(--reward "$spec"); fi
done < rewards.txt

TRAINER=(@@KIND@@ --model "${MODEL:-@@MODEL_QUOTED@@}" @@MODEL_FLAGS@@
         --config config.yaml --prompts prompts.jsonl "${REWARDS[@]}"
         --workspace "$WORKSPACE" --metrics-out "$WORKSPACE/metrics.jsonl")
if [ -n "${RESUME:-}" ]; then TRAINER+=(--resume "$RESUME"); fi

echo "launch.sh: $NUM_PROCESSES process(es), machine ${MACHINE_RANK:-0} of ${NUM_MACHINES:-1}, workspace $WORKSPACE" >&2
exec ${ACCELERATE:-accelerate} launch "${LAUNCH[@]}" -m core "${TRAINER[@]}" "$@"
"""


def launch_script(run_id: int, name: str, kind: str, model: str, model_flags: Sequence[str]) -> str:
    """launch.sh for one exported run."""
    replacements = {
        "@@RUN_ID@@": str(run_id),
        "@@NAME@@": _comment_safe(name),
        "@@KIND@@": kind,
        "@@MODEL@@": _comment_safe(model),
        "@@MODEL_QUOTED@@": _in_double_quotes(model),
        "@@MODEL_FLAGS@@": " ".join(shlex.quote(flag) for flag in model_flags),
        "@@DDP@@": f"{ACCELERATE_DIR}/{DDP_CONFIG}",
        "@@PORT@@": str(DEFAULT_PORT),
    }
    return _fill(_LAUNCH, replacements)


_SLURM = """#!/usr/bin/env bash
#SBATCH --job-name=rlhf-@@KIND@@-run@@RUN_ID@@
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=12:00:00
#SBATCH --output=slurm-%x-%j.out
# One task per node: each runs launch.sh, whose `accelerate launch` starts that node's
# GPU processes. Edit the #SBATCH lines to your cluster (partition, account, sizes).
# Submit from this folder, which every node must see (a shared filesystem):
#   cd <this folder> && sbatch slurm.sbatch [trainer flags, e.g. --steps 200]
# The environment settings of launch.sh apply (ACCELERATE_CONFIG, WORKSPACE, MODEL...).
set -euo pipefail
: "${SLURM_JOB_NUM_NODES:?is not set: submit this script with sbatch}"
HERE="${EXPORT_DIR:-${SLURM_SUBMIT_DIR:-$(pwd)}}"
GPUS_PER_NODE="${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}"
export NUM_MACHINES="$SLURM_JOB_NUM_NODES"
export NUM_PROCESSES="$(( NUM_MACHINES * GPUS_PER_NODE ))"
export MAIN_PROCESS_IP="${MAIN_PROCESS_IP:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}"
export MAIN_PROCESS_PORT="${MAIN_PROCESS_PORT:-@@PORT@@}"
export WORKSPACE="${WORKSPACE:-$HERE/workspace}"
echo "slurm: $NUM_MACHINES node(s) x $GPUS_PER_NODE GPU(s), main process on $MAIN_PROCESS_IP:$MAIN_PROCESS_PORT" >&2
# SLURM_NODEID, set by srun for each node's task, is that node's machine rank.
srun --kill-on-bad-exit=1 bash -c 'MACHINE_RANK="$SLURM_NODEID" exec "$0" "$@"' "$HERE/launch.sh" "$@"
"""


def slurm_script(run_id: int, kind: str) -> str:
    """slurm.sbatch for one exported run."""
    return _fill(
        _SLURM, {"@@RUN_ID@@": str(run_id), "@@KIND@@": kind, "@@PORT@@": str(DEFAULT_PORT)}
    )


def _fill(template: str, replacements: dict[str, str]) -> str:
    for placeholder, text in replacements.items():
        template = template.replace(placeholder, text)
    return template


def _comment_safe(text: str) -> str:
    return " ".join(str(text).split())  # one line: a newline would end the comment


def _in_double_quotes(text: str) -> str:
    """`text` escaped for the inside of a bash double-quoted string."""
    out = str(text)
    for char in ("\\", '"', "$", "`"):
        out = out.replace(char, "\\" + char)
    return out
