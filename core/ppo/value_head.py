"""The critic: one linear layer on the policy's last hidden state.

It reads the hidden states of the same forward pass that gives the policy's logits, so
policy and value cost one pass and no second model is ever held in memory. It is
trained together with the LoRA weights and saved as `value_head.safetensors`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from core.errors import TrainingError

VALUE_HEAD_FILE = "value_head.safetensors"


class ValueHead(nn.Module):
    """V(s_t) = w . h_t + b, computed in float32 whatever the model's dtype.

    No dropout: RL needs the same values at rollout and update time. Zero-initialised
    so the first advantages are the plain (KL-penalised) returns, not random noise.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.summary = nn.Linear(hidden_size, 1, dtype=torch.float32)
        nn.init.zeros_(self.summary.weight)
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """hidden_states (B, T, H) -> values (B, T)."""
        return self.summary(hidden_states.float()).squeeze(-1)

    def save(self, path: Path) -> None:
        """Write the weights as safetensors."""
        state = {
            name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()
        }
        save_file(state, str(path), metadata={"hidden_size": str(self.hidden_size)})

    def load(self, path: Path) -> None:
        """Read weights written by `save`, on this head's device."""
        try:
            state = load_file(str(path))
        except (OSError, SafetensorError) as error:  # a missing or truncated file
            raise TrainingError(
                f"Cannot read the value head {path}: {error}. Resume from another checkpoint."
            ) from error
        weight = state.get("summary.weight")
        if weight is None or weight.shape != self.summary.weight.shape:
            shape = None if weight is None else tuple(weight.shape)
            raise TrainingError(
                f"The value head {path} has shape {shape}, but this model needs "
                f"(1, {self.hidden_size}): the checkpoint was made with another model. "
                "Load the model the checkpoint was trained on."
            )
        self.load_state_dict(state)
