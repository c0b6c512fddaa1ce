"""What every on-policy RL trainer shares (PPO, GRPO, RLOO): the step-wise base,
rollouts, held-out evaluation, health checks and the generic maths and metrics."""
