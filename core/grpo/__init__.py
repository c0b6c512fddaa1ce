"""Critic-free LoRA RL: GRPO and RLOO. Both sample a group of completions per prompt and
use the group as the baseline, so there is no value head; they share everything else
with PPO (core.onpolicy.trainer). See core/grpo/trainer.py; the maths is core/grpo/maths.py.
"""
