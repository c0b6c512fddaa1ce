"""ORPO from preference pairs (Hong, Lee and Thorne 2024, "ORPO: Monolithic Preference
Optimization without Reference Model"): SFT on the chosen answer plus an odds-ratio term
that favours it over the rejected one, in one stage and with no reference model.

With m the mean log-prob per response token of an answer, its odds are
odds = P / (1 - P) with P = exp(m), so log odds = m - log(1 - exp(m)). With
l = log odds(chosen) - log odds(rejected) and p = P(chosen is better) (DPO's labels):

    loss = p (-m_c - lambda log sigma(l)) + (1 - p) (-m_r - lambda log sigma(-l))

the expected loss under the label distribution: for a hard label, the chosen answer's
mean NLL per token plus lambda times the odds-ratio loss, as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from core.offline.config import ORPOConfig
from core.offline.reference_free import ReferenceFreePairTrainer
from core.offline.trainer import Stats

_LOG_P_CEILING = -1e-6
"""log(1 - exp(m)) is -inf at m = 0 (an answer of probability 1): m is kept just below."""


def log_odds(mean_logp: Tensor) -> Tensor:
    """log(P / (1 - P)) of P = exp(mean_logp), elementwise; expm1 keeps it exact for the
    small P of whole answers."""
    m = mean_logp.clamp(max=_LOG_P_CEILING)
    return m - torch.log(-torch.expm1(m))


def orpo_losses(
    mean_chosen: Tensor, mean_rejected: Tensor, label: Tensor, weight: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """((B,) per-pair losses, (B,) NLL parts, (B,) odds-ratio parts (unweighted), (B,)
    log odds ratios l); inputs (B,): mean log-prob per token of each side, label =
    P(chosen better), weight = lambda."""
    ratio = log_odds(mean_chosen) - log_odds(mean_rejected)
    nll = -(label * mean_chosen + (1.0 - label) * mean_rejected)
    odds_ratio = -label * F.logsigmoid(ratio) - (1.0 - label) * F.logsigmoid(-ratio)
    return nll + weight * odds_ratio, nll, odds_ratio, ratio


class ORPOTrainer(ReferenceFreePairTrainer):
    """ORPO on PreferencePairs (core.reward_model.training), LoRA, no reference pass."""

    kind = "orpo"
    config_class = ORPOConfig
    config: ORPOConfig

    def _pair_losses(
        self, mean_chosen: Tensor, mean_rejected: Tensor, labels: Tensor
    ) -> tuple[Tensor, Stats]:
        losses, nll, odds_ratio, ratio = orpo_losses(
            mean_chosen, mean_rejected, labels, self.config.odds_ratio_weight
        )
        return losses, {
            "loss/nll": nll.detach().mean().item(),
            "loss/odds_ratio": odds_ratio.detach().mean().item(),
            "log_odds_ratio": ratio.detach().mean().item(),
        }

    def _reward_scale(self) -> float:
        """As TRL's ORPO logs them: lambda times the mean log-prob per token."""
        return self.config.odds_ratio_weight
