"""The built-in demo model: a tiny GPT-2 trained locally on synthetic reviews.

It makes every feature work offline with no download: `ensure_demo_model()` builds it
on first use (about 2 minutes on 2 CPU cores) and returns a standard Hugging Face
folder; later calls return the cached copy. `DEMO_PROMPTS` are review openings that
can continue either way, positive or negative, for generation and PPO.
"""

from core.demo.cache import (
    DEMO_VERSION,
    demo_model_folder,
    demo_model_info,
    ensure_demo_model,
    is_demo_model_built,
)
from resources import resource_path


def _load_demo_prompts() -> list[str]:
    """resources/prompts/demo.txt, one prompt a line (the single source of the list)."""
    text = resource_path("prompts", "demo.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


DEMO_PROMPTS: list[str] = _load_demo_prompts()
"""Review openings ("The movie was", "I bought this blender and") for PPO and compare."""


def __getattr__(name: str):
    # Lazy: the builder imports torch and transformers, which finding the demo's folder
    # (the memory planner, in a worker while the app warms up) must not.
    if name == "DemoBuildConfig":
        from core.demo.train import DemoBuildConfig

        return DemoBuildConfig
    raise AttributeError(f"module 'core.demo' has no attribute {name!r}")


__all__ = [
    "DEMO_PROMPTS",
    "DEMO_VERSION",
    "DemoBuildConfig",
    "demo_model_folder",
    "demo_model_info",
    "ensure_demo_model",
    "is_demo_model_built",
]
