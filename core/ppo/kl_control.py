"""KL-penalty coefficient controllers: fixed, or adaptive (Ziegler et al. 2019).

The per-token reward is -coef * (log p - log p_ref); the controller decides coef. The
adaptive one steers the measured KL (nats per response) towards a target with a
proportional controller whose error is clipped, so one strange batch cannot swing it.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.config import PPOConfig
from core.errors import TrainingError


class KLController(Protocol):
    """What the trainer needs from a controller."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class FixedKLController:
    """A constant coefficient."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def update(self, current_kl: float, n_steps: int) -> None:
        """Nothing to adapt."""

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController:
    """Ziegler et al. 2019: e = clip(KL / target - 1, -0.2, 0.2); coef *= 1 + e * n / horizon.

    n is the number of rollouts the KL was measured on, so the horizon is counted in
    rollouts: the coefficient changes by at most 20% per `horizon` rollouts.
    """

    max_error = 0.2

    def __init__(self, init_value: float, target: float, horizon: int) -> None:
        self.value = float(init_value)
        self.target = float(target)
        self.horizon = int(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -self.max_error), self.max_error)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.target = float(state["target"])
        self.horizon = int(state["horizon"])


def make_kl_controller(config: PPOConfig) -> FixedKLController | AdaptiveKLController:
    """The controller a config asks for, with a clear error for a bad setting."""
    if config.init_kl_coef < 0:
        raise TrainingError(
            f"init_kl_coef is {config.init_kl_coef}; it must be >= 0 (0 turns the KL penalty off)."
        )
    if config.kl_mode == "fixed":
        return FixedKLController(config.init_kl_coef)
    if config.kl_mode == "adaptive":
        if config.target_kl <= 0 or config.kl_horizon <= 0:
            raise TrainingError(
                "Adaptive KL needs target_kl > 0 and kl_horizon > 0 "
                f"(got {config.target_kl} and {config.kl_horizon}); fix them or use kl_mode 'fixed'."
            )
        return AdaptiveKLController(config.init_kl_coef, config.target_kl, config.kl_horizon)
    raise TrainingError(f"kl_mode is {config.kl_mode!r}; use 'fixed' or 'adaptive'.")
