"""LLM judge: a local causal LM reads a rubric and answers by its next-token distribution.

No text is sampled or parsed. After the filled-in rubric the judge's next-token
log-probabilities are read directly:

- Pairwise: P("A") and P("B"), renormalised over the two answers, give a soft
  preference. Each pair is judged in both orders (left shown as A, then right shown as
  A) and the two estimates of P(left better) are averaged, which cancels a constant
  position bias (Zheng et al. 2023, "Judging LLM-as-a-judge", sec. 3.4). Both per-order
  probabilities are kept so the bias can be shown.
- Pointwise: the score 1..10 is the expectation under the probabilities of the number
  tokens, renormalised over them, then mapped linearly to [-1, 1] (G-Eval, Liu et al.
  2023), so it serves directly as a PPO reward (`--reward judge=MODEL`).

Tokenizers disagree on how an answer is spelt: GPT-2's BPE has both "A" and " A"
(after "Answer:" the model usually wants " A"), SentencePiece writes "▁A". The
probability of an answer is the total mass of all its single-token variants ("A", " A"
and the vocabulary entries "ĠA" / "▁A"), so the judge does not depend on which one the
template's final cue favours. "10" is two tokens in many vocabularies ("1", "0"): the
token "1" is appended to every pointwise query, so the same forward pass also yields
P("0" | "1"), which splits the mass of "1" into the scores 1 and 10.

The judge always runs with the adapter disabled: a policy judging its own samples must
not move its own yardstick while PPO trains it. Results are cached by (judge, rubric,
prompt, response(s)) in a JudgeCache (memory, optionally `<workspace>/cache/judge.sqlite`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from core.errors import RewardError
from core.model.backbone import accepts_logits_to_keep
from core.progress import Progress, no_progress
from core.rewards.base import RewardContext, check_batch, check_scores
from core.rewards.judge_cache import JudgeCache, cache_key
from core.rewards.judge_templates import PAIRWISE, POINTWISE, RubricTemplate, default_template

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.model.session import ModelSession

SCORES = tuple(range(1, 11))
"""The pointwise scale, 1 (worst) to 10 (best)."""


@dataclass(frozen=True)
class PairJudgement:
    """The judge's soft preference for one pair, with both presentation orders kept."""

    p_left: float
    """P(left better), the mean of the two orders; 1 - p_left is P(right better)."""
    p_left_first: float
    """Order 1, left shown as A: P(A) renormalised over {A, B}."""
    p_left_swapped: float
    """Order 2, right shown as A: P(B) renormalised over {A, B}."""
    mass_first: float
    """Probability the judge put on either answer token in order 1 (format diagnostic)."""
    mass_swapped: float
    """Same for order 2. Low mass means the judge does not answer in the asked format."""

    @property
    def same_side_both_orders(self) -> bool:
        """True when the judge chose the same position (A or B) in both orders: position bias."""
        return (self.p_left_first - 0.5) * (self.p_left_swapped - 0.5) < 0

    def verdict(self, tie_margin: float = 0.0) -> str:
        """'left', 'right', or 'tie' when |p_left - 0.5| <= tie_margin."""
        if abs(self.p_left - 0.5) <= tie_margin:
            return "tie"
        return "left" if self.p_left > 0.5 else "right"

    def detail(self) -> dict[str, Any]:
        """Plain data for the store's comparison detail."""
        return {
            "p_left": self.p_left,
            "p_left_first": self.p_left_first,
            "p_left_swapped": self.p_left_swapped,
            "mass_first": self.mass_first,
            "mass_swapped": self.mass_swapped,
            "same_side_both_orders": self.same_side_both_orders,
        }


@dataclass(frozen=True)
class PointScore:
    """The judge's pointwise score of one response."""

    expected: float
    """Expected score on the 1..10 scale."""
    reward: float
    """`expected` mapped linearly to [-1, 1] (1 -> -1, 10 -> +1)."""
    mass: float
    """Probability the judge put on number tokens (format diagnostic)."""


def single_token_variants(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Ids of every single token that spells `text`, with or without a leading space."""
    ids: set[int] = set()
    for variant in (text, " " + text):
        encoded = tokenizer.encode(variant, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(int(encoded[0]))
    unk = getattr(tokenizer, "unk_token_id", None)
    for raw in (text, "Ġ" + text, "▁" + text):  # byte-level BPE and SentencePiece spellings
        token_id = tokenizer.convert_tokens_to_ids(raw)
        if isinstance(token_id, int) and token_id >= 0 and token_id != unk:
            ids.add(token_id)
    return sorted(ids)


def _answer_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    ids = single_token_variants(tokenizer, text)
    if not ids:
        raise RewardError(
            f"The judge's tokenizer has no single token for the answer {text!r}; "
            f"use a judge model whose vocabulary spells it as one token, or other labels."
        )
    return ids


def _context_length(model: torch.nn.Module) -> int | None:
    config = getattr(model, "config", None)
    for attribute in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class LLMJudge:
    """A causal LM that judges pairs (soft preference) and single responses (score).

    Build with `LLMJudge.load(model)` (its own bare model), `LLMJudge.from_session(session)`
    (share a loaded policy; judged with its adapter off) or the constructor (any HF causal
    LM and tokenizer). `score()` makes it a RewardSource (pointwise, in [-1, 1]).
    """

    name = "judge"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        identity: str,
        pairwise: RubricTemplate | None = None,
        pointwise: RubricTemplate | None = None,
        labels: tuple[str, str] = ("A", "B"),
        batch_size: int = 8,
        cache: JudgeCache | None = None,
        use_chat_template: bool | None = None,
        lock: contextlib.AbstractContextManager | None = None,
        frozen: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> None:
        """`identity` names the judge in cache keys and rater names ('ai:<identity>');
        `frozen` is a context manager factory that disables a policy's adapter."""
        self.model = model
        self.tokenizer = tokenizer
        self.identity = identity
        self.pairwise = pairwise or default_template(PAIRWISE)
        self.pointwise = pointwise or default_template(POINTWISE)
        self.labels = labels
        self.batch_size = max(1, int(batch_size))
        self.cache = cache if cache is not None else JudgeCache()
        if use_chat_template is None:
            use_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.use_chat_template = use_chat_template
        self.lock = lock if lock is not None else threading.RLock()
        self._frozen = frozen or contextlib.nullcontext
        self._label_ids = [_answer_ids(tokenizer, label) for label in labels]
        self._score_ids = {s: single_token_variants(tokenizer, str(s)) for s in SCORES}
        self._zero_ids = single_token_variants(tokenizer, "0")
        self._one_id = self._pick_one_token()
        self._max_length = _context_length(model)
        # The weights' identity in cache keys: the folder actually loaded (for 'demo' it holds
        # the demo version) and the size, so a replaced model is judged afresh.
        folder = getattr(getattr(model, "config", None), "_name_or_path", "")
        size = sum(p.numel() for p in model.parameters())
        self._weights_id = f"{folder}|{size}"
        self.forward_calls = 0
        self.session: ModelSession | None = None  # set by load(): a model this judge owns

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_session(cls, session: ModelSession, **kwargs: Any) -> LLMJudge:
        """A judge over a loaded ModelSession (the policy or a second model), adapter off."""
        kwargs.setdefault("identity", session.spec.name_or_path)
        return cls(
            session.model, session.tokenizer, lock=session.lock, frozen=session.reference, **kwargs
        )

    @classmethod
    def load(cls, name_or_path: str, device: str = "auto", **kwargs: Any) -> LLMJudge:
        """Load a bare causal LM ('demo', a folder or a hub id) to judge with."""
        from core.config import ModelSpec
        from core.model.session import ModelSession

        session = ModelSession.load(ModelSpec(name_or_path=name_or_path, device=device, lora=None))
        judge = cls.from_session(session, **kwargs)
        judge.session = session  # owned: unload() frees it
        return judge

    def unload(self) -> None:
        """Free a model this judge loaded itself (no-op for a shared session)."""
        if self.session is not None:
            self.session.unload()
            self.session = None

    close = unload  # reward sources release their models through close()

    @property
    def rater(self) -> str:
        """The rater stored with this judge's comparisons: `ai:<model>#<rubric id>`.

        The rubric is part of the judge: one model under two rubrics is two raters, whose
        labels, agreement and bias are kept and reported apart.
        """
        return f"ai:{Path(self.identity).name or self.identity}#{self.pairwise.rubric_id}"

    # ----------------------------------------------------------------- public API
    def compare(
        self,
        prompts: Sequence[str],
        lefts: Sequence[str],
        rights: Sequence[str],
        progress: Progress | None = None,
    ) -> list[PairJudgement]:
        """Judge each (prompt, left, right) in both orders; cached per order."""
        if not len(prompts) == len(lefts) == len(rights):
            raise ValueError("compare() needs as many lefts and rights as prompts")
        keys = {}
        for prompt, left, right in zip(prompts, lefts, rights, strict=True):
            for a, b in ((left, right), (right, left)):
                keys[self._key(PAIRWISE, prompt, a, b)] = (prompt, a, b)
        values = self._lookup(keys, self._judge_pairs, progress)
        results = []
        for prompt, left, right in zip(prompts, lefts, rights, strict=True):
            p_a_first, mass_first = values[self._key(PAIRWISE, prompt, left, right)]
            p_a_swapped, mass_swapped = values[self._key(PAIRWISE, prompt, right, left)]
            p_left_swapped = 1.0 - p_a_swapped  # right was A, so left was B
            results.append(
                PairJudgement(
                    p_left=0.5 * (p_a_first + p_left_swapped),
                    p_left_first=p_a_first,
                    p_left_swapped=p_left_swapped,
                    mass_first=mass_first,
                    mass_swapped=mass_swapped,
                )
            )
        return results

    def rate(
        self, prompts: Sequence[str], responses: Sequence[str], progress: Progress | None = None
    ) -> list[PointScore]:
        """Pointwise scores of each response (cached)."""
        check_batch(prompts, responses)
        keys = {self._key(POINTWISE, p, r): (p, r) for p, r in zip(prompts, responses, strict=True)}
        values = self._lookup(keys, self._judge_points, progress)
        out = []
        for prompt, response in zip(prompts, responses, strict=True):
            expected, mass = values[self._key(POINTWISE, prompt, response)]
            out.append(PointScore(expected=expected, reward=(expected - 5.5) / 4.5, mass=mass))
        return out

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """RewardSource: the pointwise score in [-1, 1] of each response."""
        rewards = [point.reward for point in self.rate(prompts, responses)]
        return check_scores(self.name, rewards, len(responses))

    # ----------------------------------------------------------------- caching
    def _key(self, kind: str, *texts: str) -> str:
        template = self.pairwise if kind == PAIRWISE else self.pointwise
        mode = "chat" if self.use_chat_template else "plain"
        ids = (self.identity, self._weights_id, kind, template.digest, mode, *self.labels)
        return cache_key(*ids, *texts)

    def _lookup(
        self,
        keys: Mapping[str, tuple[str, ...]],
        compute: Callable[[list[tuple[str, ...]]], list[tuple[float, float]]],
        progress: Progress | None,
    ) -> dict[str, tuple[float, ...]]:
        """Cached values for `keys`; the misses are computed in batches and stored."""
        progress = progress or no_progress
        values: dict[str, tuple[float, ...]] = {}
        missing = []
        for key in keys:
            cached = self.cache.get(key)
            if cached is None:
                missing.append(key)
            else:
                values[key] = cached
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            computed = compute([keys[key] for key in chunk])
            self.cache.put_many(list(zip(chunk, computed, strict=True)))
            values.update(zip(chunk, computed, strict=True))
            progress(min(start + self.batch_size, len(missing)), len(missing), "judging")
        return values

    # ----------------------------------------------------------------- maths
    def _judge_pairs(self, items: list[tuple[str, ...]]) -> list[tuple[float, float]]:
        """(P(A) renormalised over {A, B}, mass on A or B) for (prompt, a, b) items."""
        texts = [self.pairwise.fill(prompt=p, response_a=a, response_b=b) for p, a, b in items]
        logprobs = self._next_token_logprobs(texts)[:, -1]  # (B, V)
        log_a = torch.logsumexp(logprobs[:, self._label_ids[0]], dim=-1)  # (B,)
        log_b = torch.logsumexp(logprobs[:, self._label_ids[1]], dim=-1)  # (B,)
        p_a = torch.sigmoid(log_a - log_b)  # = P(A) / (P(A) + P(B)), stable in log space
        mass = log_a.exp() + log_b.exp()
        return list(zip(p_a.tolist(), mass.tolist(), strict=True))

    def _judge_points(self, items: list[tuple[str, ...]]) -> list[tuple[float, float]]:
        """(expected score 1..10, mass on number tokens) for (prompt, response) items."""
        texts = [self.pointwise.fill(prompt=p, response=r) for p, r in items]
        logprobs = self._next_token_logprobs(texts, append=self._one_id)  # (B, 2, V)
        probs = logprobs.exp()
        at_answer, after_one = probs[:, 0], probs[:, 1]  # (B, V) each
        p_zero_after_one = after_one[:, self._zero_ids].sum(-1)  # (B,) "1" continued as "10"
        p_one = at_answer[:, self._score_ids[1]].sum(-1)
        per_score = [at_answer[:, self._score_ids[s]].sum(-1) for s in SCORES]  # 10 x (B,)
        per_score[0] = p_one * (1.0 - p_zero_after_one)
        per_score[9] = per_score[9] + p_one * p_zero_after_one
        table = torch.stack(per_score, dim=-1)  # (B, 10)
        mass = table.sum(-1).clamp_min(1e-30)  # (B,)
        scale = torch.tensor(SCORES, dtype=table.dtype, device=table.device)
        expected = (table * scale).sum(-1) / mass
        return list(zip(expected.tolist(), mass.tolist(), strict=True))

    def _pick_one_token(self) -> int:
        """The token for "1" appended to pointwise queries (preferring the spaced form)."""
        for variant in (" 1", "1"):
            encoded = self.tokenizer.encode(variant, add_special_tokens=False)
            if len(encoded) == 1:
                return int(encoded[0])
        return _answer_ids(self.tokenizer, "1")[0]

    # ----------------------------------------------------------------- model
    def _encode(self, text: str) -> list[int]:
        if self.use_chat_template:
            # tokenize=False renders the conversation as one string (the stubs allow ids).
            text = cast(
                str,
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
                ),
            )
            return list(self.tokenizer.encode(text, add_special_tokens=False, verbose=False))
        # verbose=False: over-long inputs are expected here; they are cut below, not an error.
        return list(self.tokenizer.encode(text, verbose=False))

    def _next_token_logprobs(self, texts: Sequence[str], append: int | None = None) -> torch.Tensor:
        """Log-softmax over the vocabulary after each text (and after text + `append`).

        Returns (B, K, V) float32, K = 1, or 2 when `append` is given. Sequences are
        left-padded so the last position is every row's answer position, and truncated
        from the left to the model's context (the question at the end must survive).
        """
        limit = self._max_length - (append is not None) if self._max_length else None
        rows = [self._encode(text) for text in texts]
        rows = [row[-limit:] if limit else row for row in rows]
        if append is not None:
            rows = [[*row, append] for row in rows]
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        positions = (mask.cumsum(-1) - 1).clamp_min(0)  # (B, T): left padding must not shift them
        keep = 1 if append is None else 2
        with self.lock, self._frozen(), torch.inference_mode():
            logits = self._forward(input_ids, mask, positions, keep)[:, -keep:]  # (B, K, V)
        self.forward_calls += 1
        return torch.log_softmax(logits.float(), dim=-1)

    def _forward(self, input_ids, mask, positions, keep: int) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions}
        if accepts_logits_to_keep(self.model):
            return self.model(**kwargs, logits_to_keep=keep).logits
        return self.model(**kwargs).logits  # an older or custom model: all logits


def judge_from_arg(arg: str | None, context: RewardContext) -> LLMJudge:
    """The `judge[=MODEL[,RUBRIC]]` reward: no MODEL judges with the policy's base model.

    RUBRIC is a rubric preset (`judge=demo-judge,positivity`) or a pointwise template file;
    it is split off at the last comma only when it names one, so model paths holding commas
    still work.
    """
    from core.rewards.judge_templates import PRESETS, preset_template, read_template

    model, rubric = (arg or "").strip(), None
    head, comma, tail = model.rpartition(",")
    if comma and tail.strip() in PRESETS:
        model, rubric = head.strip(), preset_template(tail.strip(), POINTWISE)
    elif comma and Path(tail.strip()).expanduser().is_file():
        model, rubric = head.strip(), read_template(Path(tail.strip()).expanduser(), POINTWISE)
    if not model or model == "policy":
        if context.policy_session is None:
            raise RewardError(
                "judge without a MODEL judges with the policy's base model, but no policy is "
                "loaded here; load a model first, or name a judge model: judge=MODEL."
            )
        return LLMJudge.from_session(context.policy_session, pointwise=rubric)
    return LLMJudge.load(model, device=context.device, pointwise=rubric)
