"""The arithmetic of batch-size rules between settings (a batch splits into whole
minibatches, a batch is a multiple of the group size), shared by the on-policy configs'
FOLLOWS declarations."""

from __future__ import annotations

MAX_BATCH = 4096
"""The largest PPO batch (and minibatch) size."""


def multiple_of(number: int, step: int) -> bool:
    """Whether `number` splits into whole `step`s: a batch into minibatches or groups
    (sizes below 1 are a range problem, reported by the ranges)."""
    return number < 1 or step < 1 or number % step == 0


def divides(mini: int, batch: int) -> bool:
    """Whether a minibatch size splits a batch into whole minibatches."""
    return multiple_of(batch, mini)


def largest_divisor_up_to(limit: int, number: int) -> int:
    """The largest divisor of `number` not above `limit` (the minibatch a batch allows)."""
    return max(d for d in range(1, max(1, min(limit, number)) + 1) if number % d == 0)


def multiple_not_below(floor: int, step: int) -> int:
    """The smallest multiple of `step` not below `floor`, or `step` past MAX_BATCH."""
    multiple = -(-floor // step) * step
    return multiple if multiple <= MAX_BATCH else step
