"""AI feedback (RLAIF): bulk labelling with an LLM judge, judge-vs-human agreement, and the
interactive loop (rate the latest samples, retrain the reward model, resume PPO)."""
