"""The maths every on-policy trainer shares, as small pure tensor functions: masked
reductions over response tokens and the per-token KL estimators.

A `mask` is 1.0 for real response tokens (up to and including EOS) and 0.0 for padding
after it; every reduction ignores masked positions. KL estimators after Schulman's note
on KL approximations (k1: log-ratio, k3: the unbiased, always non-negative estimator).
"""

from __future__ import annotations

import torch
from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of `values` where `mask` is 1 (over everything, or along `dim`)."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_var(values: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance of `values` where `mask` is 1 (Bessel-corrected unless unbiased=False)."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        count = mask.to(values.dtype).sum()
        # With one element the unbiased variance is undefined; 0 keeps whitening finite.
        variance = variance * count / (count - 1) if count > 1 else torch.zeros_like(variance)
    return variance


def masked_whiten(
    values: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8
) -> Tensor:
    """Scale `values` to unit variance over the mask; also centre them if `shift_mean`.

    shift_mean=False keeps the mean (the "reward whitening" variant that must not turn
    a good batch's rewards negative). Masked positions come back as they were scaled,
    so callers multiply by the mask where padding must stay exactly zero.
    """
    mean = masked_mean(values, mask)
    whitened = (values - mean) * torch.rsqrt(masked_var(values, mask) + eps)
    return whitened if shift_mean else whitened + mean


def kl_k1(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Per-token KL estimate log p(x) - log p_ref(x) for x sampled from p: unbiased, can be < 0."""
    return logprobs - ref_logprobs


def kl_k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """Schulman's k3 = (r - 1) - log r with r = p_ref(x) / p(x): unbiased and always >= 0."""
    log_ratio = ref_logprobs - logprobs
    return torch.expm1(log_ratio) - log_ratio
