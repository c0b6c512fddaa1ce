"""The token inspector's job: one sample under a checkpoint (core.inspection), run in a
worker. It loads the checkpoint's adapter on the base model of `base_spec` (a second
session: the loaded one may be training), with the run's reward when on-policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import ModelSpec

if TYPE_CHECKING:  # core.inspection imports torch: imported by the job, in its worker
    from core.inspection import Inspection


def inspect_checkpoint(
    base_spec: ModelSpec,
    checkpoint: Path,
    workspace: Path,
    prompt: str,
    completion: str | None = None,
    seed: int = 0,
) -> Inspection:
    """Inspect `completion` (or a sample) of `prompt` under `checkpoint`'s policy."""
    import torch

    from core.inspection import inspect_sample, is_on_policy, read_checkpoint_config
    from core.model.session import ModelSession
    from core.rewards import RewardContext, build_reward
    from core.store import Store
    from core.train.checkpoints import ADAPTER_DIR, resolve_checkpoint
    from core.train.launch import reward_specs_to_resume

    torch.set_grad_enabled(False)  # grad mode is per thread
    folder = resolve_checkpoint(checkpoint)
    kind, _, _ = read_checkpoint_config(folder)
    specs: list[str] = []
    if is_on_policy(kind):
        with Store.open(workspace) as store:
            specs = reward_specs_to_resume(store, folder)
        specs = [spec for spec in specs if not spec.startswith("watch:")]
    session = ModelSession.load(replace(base_spec, adapter_path=str(folder / ADAPTER_DIR)))
    reward = build_reward(specs, RewardContext(policy_session=session)) if specs else None
    try:
        with session.lock:
            return inspect_sample(session, folder, prompt, reward, completion, seed=seed)
    finally:
        close = getattr(reward, "close", None)
        if close is not None:
            close()
