"""Data in and out: prompts, preference pairs and rankings in the layouts TRL and the
HF ecosystem read, chat formats, and the one rule for conflicting verdicts."""
