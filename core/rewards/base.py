"""The reward protocol every source follows, and the checks every score passes.

A reward source turns a batch of (prompt, response) texts into one float per response.
Sources see decoded text only, never the policy's token ids, so any scorer (a lexicon,
a rule, a classifier with its own tokenizer, a user function) can sit behind PPO.
`check_scores` guards the exit of every source: a NaN or a short list is an error that
names the source and the index here, instead of a silent NaN loss steps later in PPO.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.errors import RewardError

if TYPE_CHECKING:  # core.model.session imports torch and transformers; only the type is needed here
    import torch

    from core.model.session import ModelSession


@runtime_checkable
class RewardSource(Protocol):
    """Anything that scores responses: one float per (prompt, response) pair."""

    name: str
    """Short name used in metric keys (`reward/<name>`) and messages."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """One finite float per response; `prompts[i]` is the prompt of `responses[i]`."""
        ...


@dataclass(frozen=True)
class RewardSpec:
    """One reward source as the user wrote it: `KIND[=ARG][@WEIGHT]`."""

    kind: str
    """Registered kind, e.g. 'sentiment', 'length', 'rm' (see spec.REWARD_KINDS)."""
    arg: str | None = None
    """The text after '=' (a number, a word list, a path...), None when absent."""
    weight: float = 1.0
    """Multiplier of this source in a weighted sum."""
    watch: bool = False
    """Watched only (`watch:KIND...`): scored and reported as `watch/<name>` beside the
    trained reward, never trained on. A gold signal that shows reward hacking."""


@dataclass
class RewardContext:
    """What sources may need beyond their own argument, supplied by the caller."""

    references: dict[str, str] = field(default_factory=dict)
    """Reference answer by prompt text (for `refsim`); imported with the prompts."""
    policy_session: ModelSession | None = None
    """The policy being trained; `fluency` scores under its frozen base (adapter off)."""
    device: str = "auto"
    """Where model-based sources that load their own model run: auto | cpu | cuda | mps."""


def check_batch(prompts: Sequence[str], responses: Sequence[str]) -> None:
    """Raise ValueError when a caller passes prompts and responses of different lengths."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")


def check_scores(name: str, scores: Any, n: int) -> list[float]:
    """`scores` as a list of n finite floats, or a RewardError naming the source and index.

    Accepts any sized iterable of real numbers (lists, numpy arrays, 1-D tensors) so user
    functions may return what is natural to them.
    """
    if hasattr(scores, "tolist") and not isinstance(scores, list):
        scores = scores.tolist()  # numpy array or tensor -> nested Python numbers
    if isinstance(scores, str | bytes) or not hasattr(scores, "__len__"):
        raise RewardError(
            f"Reward '{name}' returned {type(scores).__name__}, not a list of numbers; "
            f"return one number per response."
        )
    if len(scores) != n:
        raise RewardError(
            f"Reward '{name}' returned {len(scores)} scores for {n} responses; "
            f"return exactly one number per response."
        )
    checked = []
    for index, value in enumerate(scores):
        if isinstance(value, str | bytes) or not isinstance(value, numbers.Real):
            raise RewardError(
                f"Reward '{name}' returned {value!r} ({type(value).__name__}) at index {index}; "
                f"every score must be a number."
            )
        try:
            value = float(value)
        except OverflowError:  # an int past float range, e.g. 10**400
            raise RewardError(
                f"Reward '{name}' returned an integer of {len(str(abs(int(value))))} digits at "
                f"index {index}, too large for a float; scores must be finite numbers (scale "
                "them down)."
            ) from None
        if not math.isfinite(value):
            raise RewardError(
                f"Reward '{name}' returned {value} at index {index}; scores must be finite "
                f"numbers (check the source for a division by zero or a log of 0)."
            )
        checked.append(value)
    return checked


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore); punctuation is dropped."""
    return _WORD.findall(text.lower())


def resolve_device(request: str) -> torch.device:
    """auto | cpu | cuda | mps as a torch.device, delegating to core.model.session.pick_device."""
    from core.model.session import pick_device  # lazy: keep this module light to import

    return pick_device(request)
