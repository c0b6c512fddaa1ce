"""Fluency: the mean per-token log-probability of the response under a scoring LM.

By default the scoring LM is the policy's own frozen base (its adapter disabled), so the
reward asks "would the original model have said this?", a soft guard against the
degenerate text PPO finds when another reward is hacked. `fluency=MODEL` scores with a
separate causal LM instead (a bigger model judges fluency better than a tiny policy).

Scores are mean natural-log probabilities, always <= 0 (-2 is fluent for a small model,
-8 is noise). The response is scored given its prompt: log p(response | prompt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from core.data.prompt_format import prompt_token_ids
from core.rewards.base import check_batch, check_scores

if TYPE_CHECKING:
    from core.model.session import ModelSession


def _fit(context: list[int], response: list[int], limit: int | None) -> tuple[list[int], list[int]]:
    """Trim to the model's position limit: keep the response's start and the context's end."""
    if limit is None or len(context) + len(response) <= limit:
        return context, response
    response = response[: limit - 1]  # at least one context token must precede the response
    keep = limit - len(response)
    return context[len(context) - keep :], response


class FluencyReward:
    """Mean log p(response token | prompt, earlier tokens) under a session's base model.

    `session` is a ModelSession (or anything with .model, .tokenizer, .device, .lock and
    .base()); scoring holds its lock and runs with the adapter disabled.
    """

    name = "fluency"

    def __init__(
        self, session: ModelSession, *, owns_session: bool = False, batch_size: int = 8
    ) -> None:
        self.session = session
        self.owns_session = owns_session
        self.batch_size = batch_size
        tokenizer = session.tokenizer
        # An empty prompt still needs one token to condition on; an empty response is
        # scored as "end right away" (its EOS), so saying nothing is not free fluency.
        # Same start token as generation uses (core.model.generate): BOS, else EOS.
        bos = tokenizer.bos_token_id
        self._start_id = bos if bos is not None else tokenizer.eos_token_id
        self._empty_response = (
            [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        )
        config = getattr(session.model, "config", None)
        limits = [getattr(config, k, None) for k in ("max_position_embeddings", "n_positions")]
        self._limit = next((v for v in limits if isinstance(v, int)), None)
        # Floor for a response with no token at all to score: a uniform guess over the vocab.
        self._floor = -math.log(max(len(tokenizer), 2))

    @classmethod
    def from_model(cls, name_or_path: str, device: str = "auto") -> FluencyReward:
        """Load a separate scoring LM (no adapter) and score with it."""
        from core.config import ModelSpec  # lazy: core.model.session pulls in peft
        from core.model.session import ModelSession

        session = ModelSession.load(ModelSpec(name_or_path=name_or_path, device=device, lora=None))
        return cls(session, owns_session=True)

    def _encode(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
        tokenizer = self.session.tokenizer
        # The context the policy saw when it wrote the response: the same special tokens
        # (BOS...) and, for a chat-format session, the same chat template.
        prompt_format = getattr(self.session, "prompt_format", "plain")
        context = prompt_token_ids(tokenizer, prompt, prompt_format)
        if not context and self._start_id is not None:
            context = [self._start_id]
        tokens = tokenizer(response, add_special_tokens=False)["input_ids"] or self._empty_response
        if not context:  # no BOS/EOS to start from: the first response token is only context
            context, tokens = tokens[:1], tokens[1:]
        return _fit(context, tokens, self._limit)

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        # Contexts left-padded and responses right-padded, so every response starts at the
        # same column C and only the (B, R, V) window of logits needs a log-softmax.
        pad = self.session.tokenizer.pad_token_id or 0
        width_c = max(1, max(len(c) for c, _ in pairs))  # >= 1: logits start at C - 1
        width_r = max(len(r) for _, r in pairs)
        rows, masks, targets_mask = [], [], []
        for context, response in pairs:
            left, right = width_c - len(context), width_r - len(response)
            rows.append([pad] * left + context + response + [pad] * right)
            masks.append([0] * left + [1] * (len(context) + len(response)) + [0] * right)
            targets_mask.append([1] * len(response) + [0] * right)
        device = self.session.device
        input_ids = torch.tensor(rows, device=device)  # (B, C + R)
        attention_mask = torch.tensor(masks, device=device)  # (B, C + R)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # left padding shifts nothing
        logits = self.session.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).logits  # (B, C + R, V)
        window = logits[:, width_c - 1 : -1].float()  # (B, R, V): predicts tokens C .. C+R-1
        targets = input_ids[:, width_c:]  # (B, R)
        token_logp = torch.log_softmax(window, dim=-1).gather(-1, targets[..., None])[..., 0]
        mask = torch.tensor(targets_mask, device=device, dtype=token_logp.dtype)  # (B, R)
        counts = mask.sum(-1)
        means = (token_logp * mask).sum(-1) / counts.clamp(min=1)
        return torch.where(counts > 0, means, torch.full_like(means, self._floor)).tolist()

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Mean response-token log-prob under the base model, batched."""
        check_batch(prompts, responses)
        pairs = [self._encode(p, r) for p, r in zip(prompts, responses, strict=True)]
        scores: list[float] = []
        model = self.session.model
        # The lock is re-entrant, so PPO may call this while it holds it. no_grad is set here
        # because grad mode is per thread; eval() because dropout would make scores random.
        with self.session.lock, self.session.base(), torch.no_grad():
            was_training = model.training
            model.eval()
            try:
                for start in range(0, len(pairs), self.batch_size):
                    scores += self._score_batch(pairs[start : start + self.batch_size])
            finally:
                model.train(was_training)
        return check_scores(self.name, scores, len(responses))

    def close(self) -> None:
        """Unload the scoring model if this reward loaded it (never the policy)."""
        if self.owns_session:
            self.session.unload()
