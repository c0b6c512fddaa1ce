"""Rollout plumbing: the prompt order, and the one forward pass that serves policy and value.

Shared by every on-policy trainer (PPO, GRPO, RLOO): the value pass and the reference
pass are optional, so critic-free trainers skip the one and beta = 0 skips the other.

Shapes: B = rollouts, Tq = prompt tokens (left-padded), Tr = response tokens
(right-padded after EOS), H = hidden size, V = vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from core.config import GenerationConfig
from core.errors import TrainingError
from core.model.generate import sample
from core.model.logprobs import response_token_logprobs

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.model.session import ModelSession


class PromptOrder:
    """Walks the prompts in a fresh seeded permutation per pass, resumable from (epoch, cursor)."""

    def __init__(self, n_prompts: int, seed: int) -> None:
        if n_prompts == 0:
            raise TrainingError(
                "Training needs at least one prompt; add prompts to the prompt set."
            )
        self.n_prompts = n_prompts
        self.seed = seed
        self.epoch = 0
        self.cursor = 0

    def _permutation(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        return torch.randperm(self.n_prompts, generator=generator).tolist()

    def take(self, count: int) -> list[int]:
        """The next `count` prompt indices, starting a new shuffled pass when one runs out."""
        taken: list[int] = []
        order = self._permutation()
        while len(taken) < count:
            if self.cursor == self.n_prompts:
                self.epoch, self.cursor = self.epoch + 1, 0
                order = self._permutation()
            taken.append(order[self.cursor])
            self.cursor += 1
        return taken

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "n_prompts": self.n_prompts}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["n_prompts"] != self.n_prompts:
            raise TrainingError(
                f"The checkpoint was trained on {state['n_prompts']} prompts but "
                f"{self.n_prompts} were given; resume with the same prompt set (--prompts "
                "FILE; the run's list is run_prompts/run-<id>.jsonl in its workspace)."
            )
        self.epoch, self.cursor = state["epoch"], state["cursor"]


@dataclass
class Rollout:
    """One step's batch: sampled tokens plus everything computed at rollout time (no grad)."""

    query_ids: Tensor  # (B, Tq)
    query_mask: Tensor  # (B, Tq)
    response_ids: Tensor  # (B, Tr)
    response_mask: Tensor  # (B, Tr) float, 1 up to and including EOS
    logprobs: Tensor  # (B, Tr) policy log-probs at rollout time
    ref_logprobs: Tensor | None  # (B, Tr) reference (adapter off) log-probs, if computed
    values: Tensor | None  # (B, Tr) critic at rollout time, for trainers with a critic
    entropy: Tensor  # (B, Tr) policy entropy per token
    finished: Tensor  # (B,) bool: reached EOS

    def select(self, index: Tensor) -> Rollout:
        """The rows `index` of every tensor (a minibatch)."""
        return Rollout(
            self.query_ids[index],
            self.query_mask[index],
            self.response_ids[index],
            self.response_mask[index],
            self.logprobs[index],
            _rows(self.ref_logprobs, index),
            _rows(self.values, index),
            self.entropy[index],
            self.finished[index],
        )


def computed(tensor: Tensor | None, what: str) -> Tensor:
    """A tensor the caller had the rollout (or forward pass) compute: the reference
    log-probs with a reference, the values with a value head."""
    if tensor is None:
        raise ValueError(f"The rollout holds no {what}: it was not asked to compute them.")
    return tensor


def _rows(tensor: Tensor | None, index: Tensor) -> Tensor | None:
    return None if tensor is None else tensor[index]


@dataclass
class ForwardOut:
    """What one forward pass over prompt + response gives, for response positions only."""

    logprobs: Tensor  # (B, Tr)
    values: Tensor | None  # (B, Tr), when a value head was given
    entropy: Tensor | None  # (B, Tr), when asked for (never differentiated)


def forward_response(
    model: nn.Module,
    value_head: nn.Module | None,
    batch: Rollout | _Tokens,
    temperature: float,
    with_entropy: bool = False,
    logits_chunk_size: int = 0,
) -> ForwardOut:
    """Log-probs of the response tokens, and their values, from a single forward pass.

    The pass is core.model.logprobs.response_token_logprobs, the one generation's log-probs
    come from, so log-probs here are those of the distribution that sampled. Values are
    the value head on the hidden state before each response token is chosen.
    logits_chunk_size: as response_token_logprobs takes it (0: whole logits).
    """
    query_mask, response_mask = batch.query_mask.long(), batch.response_mask.long()
    # Columns no row of this batch uses cost the whole pass and change nothing: a minibatch's
    # prompts are often shorter than the rollout's longest, and its answers end sooner.
    first = _first_used(query_mask.any(dim=0))
    used = _first_used(response_mask.any(dim=0).flip(0))
    width = max(1, response_mask.shape[1] - used)  # response columns up to the last token
    input_ids = torch.cat([batch.query_ids[:, first:], batch.response_ids[:, :width]], dim=1)
    attention_mask = torch.cat([query_mask[:, first:], response_mask[:, :width]], dim=1)
    tokens = response_token_logprobs(
        model,
        input_ids,
        attention_mask,
        width,
        temperature,
        with_entropy=with_entropy,
        with_hidden=value_head is not None,
        logits_chunk_size=logits_chunk_size,
    )
    values = value_head(tokens.hidden) if value_head is not None else None  # (B, Tr): V(s_t)
    full = batch.response_ids.shape[1]
    entropy = tokens.entropy
    return ForwardOut(
        logprobs=_widen(tokens.logprobs, full),
        values=None if values is None else _widen(values, full),
        entropy=None if entropy is None else _widen(entropy, full),
    )


def _first_used(used: Tensor) -> int:
    """Index of the first True of a (T,) bool tensor (its length when none is)."""
    hits = used.nonzero()
    return int(hits[0, 0]) if len(hits) else used.shape[0]


def _widen(tensor: Tensor, width: int) -> Tensor:
    """(B, w) -> (B, width): zeros on the right, where no row had a response token."""
    if tensor.shape[1] == width:
        return tensor
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]))


@dataclass
class _Tokens:
    """The token tensors forward_response reads, for one chunk of a sampled batch."""

    query_ids: Tensor  # (b, Tq)
    query_mask: Tensor  # (b, Tq)
    response_ids: Tensor  # (b, Tr)
    response_mask: Tensor  # (b, Tr)
    finished: Tensor  # (b,)


@torch.no_grad()
def collect_rollout(
    session: ModelSession,
    value_head: nn.Module | None,
    queries: list[list[int]],
    generation: GenerationConfig,
    seed: int,
    chunk_size: int,
    with_reference: bool = True,
    logits_chunk_size: int = 0,
) -> Rollout:
    """Sample responses with the policy, then evaluate them in chunks of `chunk_size`.

    Per chunk: one policy pass (log-probs, entropy, and values when a value head is
    given) and, when `with_reference`, one reference pass with the adapter disabled.
    What is not computed comes back as None. The caller holds session.lock.
    """
    sampled = sample(session, queries, generation, generator_seed=seed, with_logprobs=False)
    parts = {
        "query_ids": sampled.query_ids,
        "query_mask": sampled.query_mask,
        "response_ids": sampled.response_ids,
        "response_mask": sampled.response_mask.float(),
        "finished": sampled.finished.bool(),
    }
    columns: dict[str, list[Tensor]] = {"logprobs": [], "ref": [], "values": [], "entropy": []}
    for start in range(0, len(queries), chunk_size):
        chunk = _Tokens(**{key: value[start : start + chunk_size] for key, value in parts.items()})
        temperature = generation.temperature
        policy = forward_response(
            session.model, value_head, chunk, temperature, True, logits_chunk_size
        )
        if with_reference:
            with session.reference():
                reference = forward_response(
                    session.model, None, chunk, temperature, False, logits_chunk_size
                )
            columns["ref"].append(reference.logprobs)
        columns["logprobs"].append(policy.logprobs)
        if policy.values is not None:
            columns["values"].append(policy.values)
        if policy.entropy is not None:  # asked for above
            columns["entropy"].append(policy.entropy)
    mask = parts["response_mask"]
    logprobs, ref, values, entropy = (
        torch.cat(columns[key]) * mask if columns[key] else None for key in columns
    )
    if logprobs is None or entropy is None:
        raise ValueError("A rollout needs at least one query.")
    return Rollout(**parts, logprobs=logprobs, ref_logprobs=ref, values=values, entropy=entropy)


def reference_responses(
    session: ModelSession, queries: list[list[int]], generation: GenerationConfig, seed: int
) -> list[str]:
    """What the reference policy (the run's start, or the adapter-off base) answers to
    `queries`, with the same seed."""
    with torch.no_grad():
        sampled = sample(
            session,
            queries,
            generation,
            reference=True,
            generator_seed=seed,
            with_logprobs=False,
        )
    lengths = sampled.response_mask.sum(dim=1).long()
    return decode_responses(session.tokenizer, sampled.response_ids, lengths)


def side_by_side_samples(
    session: ModelSession,
    generation: GenerationConfig,
    prompts: list[str],
    queries: list[list[int]],
    responses: list[str],
    scores: list[float],
    seed: int,
) -> list[dict]:
    """The rollouts of `prompts` (the first rows), each beside the reference's answer."""
    if not prompts:
        return []
    references = reference_responses(session, queries[: len(prompts)], generation, seed)
    count = len(prompts)
    return sample_rows(prompts, responses[:count], scores[:count], references)


def sample_rows(
    prompts: list[str], responses: list[str], scores: list[float], references: list[str]
) -> list[dict]:
    """Samples as the store and the GUI take them: one dict per prompt."""
    return [
        {"prompt": prompt, "response": response, "reward": score, "reference": reference}
        for prompt, response, score, reference in zip(
            prompts, responses, scores, references, strict=True
        )
    ]


def decode_responses(
    tokenizer: PreTrainedTokenizerBase, response_ids: Tensor, lengths: Tensor
) -> list[str]:
    """Text of each response's first `lengths[i]` tokens, special tokens (EOS) dropped."""
    rows = [ids[:n].tolist() for ids, n in zip(response_ids, lengths.tolist(), strict=True)]
    return tokenizer.batch_decode(rows, skip_special_tokens=True)
