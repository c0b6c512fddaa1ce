"""SimPO from preference pairs (Meng, Xia and Chen 2024, "SimPO: Simple Preference
Optimization with a Reference-Free Reward"): the implicit reward of an answer is beta
times its mean log-prob per token, no reference model, and the chosen answer's reward
must beat the rejected one's by a target margin gamma.

With m_c, m_r the mean log-probs per response token of the chosen and rejected answers
and p = P(chosen is better) (1 for a hard label; DPO's labels: smoothing, the judge's
probability, 0.5 for a tie kept as 'soft'):

    loss = -p log sigma(beta (m_c - m_r) - gamma) - (1 - p) log sigma(beta (m_r - m_c) - gamma)

the expected loss under the label distribution, as core.offline.dpo writes DPO's. The
length normalisation is what keeps SimPO from favouring long answers.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from core.offline.config import SimPOConfig
from core.offline.reference_free import ReferenceFreePairTrainer
from core.offline.trainer import Stats


def simpo_losses(
    mean_chosen: Tensor, mean_rejected: Tensor, label: Tensor, beta: float, gamma: float
) -> Tensor:
    """(B,) per-pair losses; inputs (B,): mean log-prob per token of each side, label =
    P(chosen better)."""
    margin = beta * (mean_chosen - mean_rejected)
    return -label * F.logsigmoid(margin - gamma) - (1.0 - label) * F.logsigmoid(-margin - gamma)


class SimPOTrainer(ReferenceFreePairTrainer):
    """SimPO on PreferencePairs (core.reward_model.training), LoRA, no reference pass."""

    kind = "simpo"
    config_class = SimPOConfig
    config: SimPOConfig

    def _pair_losses(
        self, mean_chosen: Tensor, mean_rejected: Tensor, labels: Tensor
    ) -> tuple[Tensor, Stats]:
        losses = simpo_losses(
            mean_chosen, mean_rejected, labels, self.config.beta, self.config.gamma
        )
        return losses, {}

    def _reward_scale(self) -> float:
        return self.config.beta
