"""The names inside a PPO checkpoint folder, torch-free (the GUI finds a checkpoint's
adapter with them on its own thread): the shared layout plus PPO's config file."""

from core.train.checkpoints import ADAPTER_DIR, META_FILE, PREFIX, TRAINER_STATE_FILE

CONFIG_FILE = "ppo_config.json"

__all__ = ["ADAPTER_DIR", "CONFIG_FILE", "META_FILE", "PREFIX", "TRAINER_STATE_FILE"]
