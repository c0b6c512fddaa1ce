"""GRPO's and RLOO's bindings to the shared launch (core.train.launch), as PPO's is in
core.ppo.launch: one code path for the CLI and the GUI."""

from __future__ import annotations

from core.grpo.trainer import GRPOTrainer, RLOOTrainer
from core.train.launch import Algorithm

GRPO = Algorithm.of(GRPOTrainer)
RLOO = Algorithm.of(RLOOTrainer)
