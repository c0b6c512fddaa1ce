"""The one batching path of the trainers that learn from stored text (DPO, KTO, SFT; it
suits a reward model too): prompt/response texts -> token ids once -> padded batches ->
summed response log-probs, with the reference's log-probs computed once and cached.

Layout of a batch: each row is its prompt then its response. Where the model allows it
(core.model.packing), the rows lie end to end in a few lanes with no padding between them;
otherwise they are left-padded to the batch's longest row, so every response ends at the
last column and core.model.logprobs reads the last Tr columns as it reads a PPO rollout's.
Either way the log-probs come back as (N, Tr), each response at the right end of its row,
and `response_mask` marks the response's real tokens (EOS included) within them. The
response is the text's tokens (no special tokens) cut to `max_response_tokens - 1`, then
EOS, so the policy learns to end its answers.

Shapes: N = rows, Tq = prompt tokens, Tr = response tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from core.model.generate import encode_prompts, eos_token_ids, left_pad
from core.model.logprobs import response_token_logprobs
from core.model.packing import PackedRows, lane_tokens, pack, packed_logprobs


@dataclass(frozen=True)
class SequenceBatch:
    """Rows ready for one forward pass: packed, or padded when `packed` is None."""

    input_ids: Tensor | None  # (N, Tq + Tr), padded rows
    attention_mask: Tensor | None  # (N, Tq + Tr)
    response_mask: Tensor  # (N, Tr), float: 1 on response tokens
    packed: PackedRows | None = None

    @property
    def response_length(self) -> int:
        return self.response_mask.shape[1]

    @property
    def token_counts(self) -> Tensor:
        """(N,) response tokens per row."""
        return self.response_mask.sum(dim=1)


class SequenceTable:
    """Every (prompt, response) of a dataset as token ids, with cached reference log-probs.

    Rows are addressed by index. The reference is the session's model with its adapter
    off (ModelSession.reference), which never changes during a run: its log-probs are
    computed the first time a row is needed and kept (one float per row).
    """

    def __init__(
        self,
        session,
        prompts: Sequence[str],
        responses: Sequence[str],
        max_response_tokens: int,
        logits_chunk_size: int = 0,
        *,
        packing: bool = True,
    ) -> None:
        self.session = session
        self.logits_chunk_size = logits_chunk_size
        """The setting of core.model.logprobs for every forward pass over these rows."""
        self.packing = packing
        """Whether batches are packed where the model allows it (core.model.packing)."""
        tokenizer = session.tokenizer
        self._prompt_ids = encode_prompts(session, list(prompts), max_response_tokens)
        eos = eos_token_ids(session)
        end = [tokenizer.eos_token_id if tokenizer.eos_token_id is not None else eos[0]]
        keep = max_response_tokens - 1
        self._response_ids = [
            tokenizer(text, add_special_tokens=False)["input_ids"][:keep] + end
            for text in responses
        ]
        self._reference: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._response_ids)

    def batch(self, indices: Sequence[int]) -> SequenceBatch:
        """The rows `indices` on the session's device, packed when that saves tokens.

        Padded, each row is its prompt and response together, left-padded to the longest
        row, so every response ends at the last column: the width is the longest prompt +
        response, not the longest prompt + the longest response (the two may be far apart
        when long prompts get short answers, and every column costs the policy's forward
        and backward pass). The response columns are the last Tr = longest response; a
        shorter response fills the right end of them, and the mask leaves out the prompt
        tokens before it.
        """
        prompts = [self._prompt_ids[i] for i in indices]
        responses = [self._response_ids[i] for i in indices]
        rows = [prompt + response for prompt, response in zip(prompts, responses, strict=True)]
        device, pad_id = self.session.device, self.session.tokenizer.pad_token_id
        response_width = max(len(ids) for ids in responses)
        response_mask = torch.zeros((len(rows), response_width), dtype=torch.float32)
        for row, response in enumerate(responses):
            response_mask[row, response_width - len(response) :] = 1.0
        response_mask = response_mask.to(device)
        lane_length = lane_tokens(self.session.model) if self.packing else 0
        if lane_length:
            lengths = [len(response) for response in responses]
            packed = pack(rows, lengths, lane_length, pad_id, device)
            if packed is not None:
                return SequenceBatch(None, None, response_mask, packed)
        input_ids, attention_mask = left_pad(rows, pad_id, device)
        return SequenceBatch(input_ids, attention_mask, response_mask)

    def reference_logps(self, indices: Sequence[int], chunk_size: int) -> Tensor:
        """(N,) summed reference log-probs of the rows, computed once per row."""
        missing = [i for i in dict.fromkeys(indices) if i not in self._reference]
        for start in range(0, len(missing), chunk_size):
            chunk = missing[start : start + chunk_size]
            batch = self.batch(chunk)
            with torch.no_grad(), self.session.reference() as base:
                sums = response_logps(base, batch, self.logits_chunk_size).sum(dim=1)
            self._reference.update(zip(chunk, sums.tolist(), strict=True))
        values = [self._reference[i] for i in indices]
        return torch.tensor(values, dtype=torch.float32, device=self.session.device)

    def token_counts(self, indices: Sequence[int]) -> Tensor:
        """(N,) response tokens of the rows."""
        counts = [len(self._response_ids[i]) for i in indices]
        return torch.tensor(counts, dtype=torch.float32, device=self.session.device)


def response_logps(
    model: torch.nn.Module, batch: SequenceBatch, logits_chunk_size: int = 0
) -> Tensor:
    """(N, Tr) log-probs of the response tokens (0 on padding), at temperature 1
    (logits_chunk_size: as core.model.logprobs.response_token_logprobs takes it)."""
    if batch.packed is not None:
        flat = packed_logprobs(model, batch.packed, logits_chunk_size)  # (M,), row by row
        return torch.zeros_like(batch.response_mask).masked_scatter(
            batch.response_mask.bool(), flat.to(batch.response_mask.dtype)
        )
    assert batch.input_ids is not None and batch.attention_mask is not None
    tokens = response_token_logprobs(
        model,
        batch.input_ids,
        batch.attention_mask,
        batch.response_length,
        1.0,
        logits_chunk_size=logits_chunk_size,
    )
    return tokens.logprobs * batch.response_mask


def chunks(indices: Sequence[int], size: int) -> list[list[int]]:
    """`indices` in consecutive pieces of at most `size`."""
    return [list(indices[start : start + size]) for start in range(0, len(indices), size)]
