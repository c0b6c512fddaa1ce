"""The trainers from stored feedback (DPO/IPO, KTO, SFT, SimPO, ORPO) as the GUI offers
them: the offline specs of the one algorithm registry (core/algorithms.py) with their
visuals (app/algorithms.py), which the Train page's algorithm choice lists beside PPO,
GRPO and RLOO. Kept as a view for the modules that want the offline ones only."""

from __future__ import annotations

from app.algorithms import (
    DRIFT_PLOT as DRIFT,
)
from app.algorithms import (
    OFFLINE_LOSS as LOSS,
)
from app.algorithms import (
    OFFLINE_SPEED as SPEED,
)
from app.algorithms import (
    PREFERENCE_PLOTS,
    AlgorithmChoice,
    offline,
)

AlgorithmEntry = AlgorithmChoice
"""The entries' type (one shape for every algorithm)."""

OFFLINE_ALGORITHMS: dict[str, AlgorithmChoice] = offline()
"""kind -> entry, in the registry's order."""

__all__ = ["DRIFT", "LOSS", "OFFLINE_ALGORITHMS", "PREFERENCE_PLOTS", "SPEED", "AlgorithmEntry"]
