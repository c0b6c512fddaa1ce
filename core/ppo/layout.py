"""The names inside a PPO checkpoint folder (see core/ppo/checkpoint.py), torch-free:
the GUI finds a checkpoint's adapter with them on its own thread."""

ADAPTER_DIR = "adapter"
TRAINER_STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "ppo_config.json"
META_FILE = "meta.json"
PREFIX = "step-"
