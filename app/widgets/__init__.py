"""Reusable widgets: live plots, the PPO form, the rollout table, compare panes."""
