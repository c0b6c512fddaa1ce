"""The PPO settings form: the training form (app/widgets/train_form.py) with PPO chosen,
and PPO's presets (app/algorithms.py), under the names the PPO form always had."""

from app.algorithms import PPO_PRESETS as PRESETS
from app.widgets.train_form import CUSTOM, TrainForm

PPOForm = TrainForm

__all__ = ["CUSTOM", "PRESETS", "PPOForm", "TrainForm"]
