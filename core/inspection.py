"""One sample under a checkpoint, token by token: what the trainer saw and credited.

RL for language models in its parts: the state is the prefix, the action the next token,
the reward comes at the end. For one prompt and one completion (sampled under the
checkpoint's policy, or given), `inspect_sample` gives per generated token its log-prob
under the policy and the reference, the per-token KL, and:

- PPO: the critic's value V(s_t), the reward credited at that position (-kl_coef * KL,
  plus the score on the last token), the GAE advantage and the return, with the run's
  gamma and lambda (`with_lambda` recomputes them for another lambda: 1 is Monte Carlo,
  0 one-step TD);
- GRPO / RLOO: the completion's group advantage (one number on every token), from a
  group of `group_size` completions of the prompt sampled with the same seed;
- DPO and the other trainers from stored data: the implicit reward's share of each token,
  beta * (log p - log p_ref).

The numbers come from the functions the trainers use (core.onpolicy.rollout's forward pass,
core.ppo.maths' GAE and token rewards, core.grpo.maths' advantages), so for the same
rollout they are the trainer's. Advantages are shown before the batch whitening PPO
applies (one sample has no batch). Also the top-5 next tokens under policy and reference
at each position. Headless: the CLI's `inspect` and the GUI's token inspector show it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from core.config import GenerationConfig
from core.errors import TrainingError
from core.grpo.maths import kl_estimate
from core.model.generate import encode_prompts, eos_token_ids, sample
from core.onpolicy.rollout import _Tokens, forward_response
from core.ppo.maths import compute_gae, token_rewards
from core.train.checkpoints import META_FILE, resolve_checkpoint

if TYPE_CHECKING:
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource

TOP_K = 5


def is_on_policy(kind: str) -> bool:
    """Whether the kind samples its own answers against a reward (PPO, GRPO, RLOO)."""
    from core.algorithms import spec_of

    return spec_of(kind).data == "prompts"


def _has_critic(kind: str) -> bool:
    from core.algorithms import spec_of

    return spec_of(kind).plan.value_head


@dataclass(frozen=True)
class TokenRow:
    """One generated token and what the trainer computes for it."""

    token: str
    token_id: int
    logprob: float
    ref_logprob: float
    kl: float
    """Per-token KL estimate: k1 = log p - log p_ref (PPO's penalty and objective/kl), or
    the GRPO/RLOO run's kl_estimator."""
    value: float | None = None
    reward: float | None = None
    """PPO: the reward credited at this position (-kl_coef * kl, + the score at the end);
    DPO and offline kinds: beta * (log p - log p_ref), the implicit reward's share."""
    advantage: float | None = None
    returns: float | None = None
    top: list[dict[str, Any]] = field(default_factory=list)
    """The TOP_K most likely tokens here under the policy: token, logprob, ref_logprob."""


@dataclass(frozen=True)
class Inspection:
    """One sample under one checkpoint."""

    kind: str
    step: int
    prompt: str
    completion: str
    tokens: list[TokenRow]
    kl: float
    """The sequence KL: the sum of the tokens' kl (PPO's objective/kl for this sample)."""
    reward: float
    """The reward source's score of the completion (PPO/GRPO/RLOO), or DPO's implicit
    reward beta * sum(log p - log p_ref)."""
    kl_coef: float | None = None
    gamma: float | None = None
    lam: float | None = None
    advantage: float | None = None
    """GRPO / RLOO: the completion's group advantage."""
    finished: bool = True

    def to_json(self) -> str:
        """One line of JSON: the CLI's --json output."""
        return json.dumps(asdict(self), ensure_ascii=False)

    def with_lambda(self, lam: float) -> Inspection:
        """PPO's advantages and returns recomputed with another GAE lambda (the values and
        rewards stay): lambda 1 is the Monte Carlo return minus V, 0 one-step TD."""
        if self.gamma is None:  # no critic, no GAE
            return self
        rewards = torch.tensor([[row.reward for row in self.tokens]], dtype=torch.float64)
        values = torch.tensor([[row.value for row in self.tokens]], dtype=torch.float64)
        mask = torch.ones_like(rewards)
        advantages, returns = compute_gae(rewards, values, mask, self.gamma, lam)
        rows = [
            replace(row, advantage=float(a), returns=float(r))
            for row, a, r in zip(self.tokens, advantages[0], returns[0], strict=True)
        ]
        return replace(self, tokens=rows, lam=lam)


def read_checkpoint_config(folder: Path) -> tuple[str, int, dict[str, Any]]:
    """(kind, step, the run's config as a dict) of a checkpoint folder (or a run's folder)."""
    folder = resolve_checkpoint(Path(folder))
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        kind = str(meta["algorithm"])
        config = json.loads((folder / f"{kind}_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TrainingError(
            f"Cannot read the checkpoint {folder}: {error}. Choose a step-<N> folder "
            "written by a training run."
        ) from None
    return kind, int(meta.get("step", 0)), config


@torch.no_grad()
def inspect_sample(
    session: ModelSession,
    checkpoint: Path,
    prompt: str,
    reward: RewardSource | None = None,
    completion: str | None = None,
    max_new_tokens: int | None = None,
    seed: int = 0,
) -> Inspection:
    """Inspect one completion of `prompt` under the checkpoint's policy.

    `session` holds the checkpoint's adapter (ModelSpec.adapter_path); `reward` scores
    on-policy kinds (the run's reward source). A `completion` is scored as given, else one
    is sampled with `seed`."""
    folder = resolve_checkpoint(Path(checkpoint))
    kind, step, config = read_checkpoint_config(folder)
    on_policy, critic = is_on_policy(kind), _has_critic(kind)
    grouped = on_policy and "group_size" in config
    if on_policy and reward is None:
        raise TrainingError(f"Inspecting a {kind.upper()} checkpoint needs its reward source.")
    temperature = float(config.get("temperature", 1.0)) if on_policy else 1.0
    new_tokens = max_new_tokens or int(config.get("max_new_tokens", 32))
    [query] = encode_prompts(session, [prompt], new_tokens)
    group = int(config["group_size"]) if grouped else 1
    generation = GenerationConfig(
        max_new_tokens=new_tokens,
        temperature=temperature,
        top_k=int(config.get("top_k", 0)),
        top_p=float(config.get("top_p", 1.0)),
        seed=None,
        batch_size=group,
    )
    ends = not on_policy  # the trainers from stored data end each answer with EOS
    batch = _batch(session, query, completion, group, generation, seed, ends)
    value_head = _value_head(folder, session) if critic else None
    policy = forward_response(session.model, value_head, batch, temperature)
    with session.reference():
        reference = forward_response(session.model, None, batch, temperature)
    mask = batch.response_mask
    estimator = str(config.get("kl_estimator", "k1"))  # GRPO/RLOO's choice; PPO's is k1
    kl = kl_estimate(policy.logprobs, reference.logprobs, estimator) * mask  # (G, Tr)
    lengths = mask.sum(dim=1).long()  # (G,)
    texts = session.tokenizer.batch_decode(
        [ids[:n].tolist() for ids, n in zip(batch.response_ids, lengths.tolist(), strict=True)],
        skip_special_tokens=True,
    )
    length = int(lengths[0])
    tops = _top_tokens(session, batch, temperature, length)
    rows = [
        TokenRow(
            # One token id decodes to one string (the stubs allow a list for batches).
            token=cast(str, session.tokenizer.decode([int(batch.response_ids[0, t])])),
            token_id=int(batch.response_ids[0, t]),
            logprob=float(policy.logprobs[0, t]),
            ref_logprob=float(reference.logprobs[0, t]),
            kl=float(kl[0, t]),
            top=tops[t],
        )
        for t in range(length)
    ]
    base = Inspection(
        kind=kind,
        step=step,
        prompt=prompt,
        completion=texts[0],
        tokens=rows,
        kl=float(kl[0].sum()),
        reward=math.nan,
        finished=bool(batch.finished[0]),
    )
    if critic:
        return _ppo_credit(base, folder, config, reward, policy.values, kl, lengths, batch)
    if grouped:
        return _group_credit(base, config, reward, texts, kl, batch)
    return _implicit_credit(base, config, policy.logprobs, reference.logprobs, length)


# ------------------------------------------------------------------ per kind


def _ppo_credit(base, folder, config, reward, values, kl, lengths, batch) -> Inspection:
    """PPO: the per-token rewards, GAE advantages and returns of the trainer."""
    score = _scores(reward, base.prompt, [base.completion], config, batch.finished[:1])
    kl_coef = _kl_coef(folder, config)
    rewards = token_rewards(kl[:1], score, lengths[:1], kl_coef)  # (1, Tr)
    gamma, lam = float(config.get("gamma", 1.0)), float(config.get("lam", 0.95))
    advantages, returns = compute_gae(rewards, values[:1], batch.response_mask[:1], gamma, lam)
    rows = [
        replace(
            row,
            value=float(values[0, t]),
            reward=float(rewards[0, t]),
            advantage=float(advantages[0, t]),
            returns=float(returns[0, t]),
        )
        for t, row in enumerate(base.tokens)
    ]
    return replace(base, tokens=rows, reward=float(score[0]), kl_coef=kl_coef, gamma=gamma, lam=lam)


def _group_credit(base, config, reward, texts, kl, batch) -> Inspection:
    """GRPO / RLOO: the group advantage of the first completion among its group."""
    from core.grpo.maths import grpo_advantages, rloo_advantages

    prompts = [base.prompt] * len(texts)
    raw = _scores(reward, base.prompt, texts, config, batch.finished)  # (G,)
    scores = raw.clone()
    beta = float(config.get("beta", 0.0))
    if beta > 0 and config.get("kl_penalty") == "reward":
        scores = scores - beta * kl.sum(dim=1)
    group = len(prompts)
    if "scale_rewards" in config:  # GRPO's setting; RLOO's leave-one-out has none
        advantages = grpo_advantages(scores, group, str(config.get("scale_rewards", "group")))
    else:
        advantages = rloo_advantages(scores, group)
    advantage = float(advantages[0])
    rows = [replace(row, advantage=advantage) for row in base.tokens]
    kl_coef = beta if beta > 0 else None
    return replace(base, tokens=rows, reward=float(raw[0]), advantage=advantage, kl_coef=kl_coef)


def _implicit_credit(base, config, logprobs, ref_logprobs, length) -> Inspection:
    """DPO and the trainers from stored data: beta * (log p - log p_ref) per token."""
    beta = float(config.get("beta", 0.1))
    shares = beta * (logprobs[0, :length] - ref_logprobs[0, :length])
    rows = [replace(row, reward=float(s)) for row, s in zip(base.tokens, shares, strict=True)]
    return replace(base, tokens=rows, reward=float(shares.sum()), kl_coef=beta)


# ------------------------------------------------------------------ helpers


def _batch(session, query, completion, group, generation, seed, ends: bool) -> _Tokens:
    """The completion(s) to inspect as token tensors: the given text first (if any; with
    EOS after it when `ends`, as DPO, KTO and SFT train on answers), then samples of the
    policy up to the group size."""
    device = session.device
    rows: list[tuple[list[int], bool]] = []
    if completion is not None:
        ids = session.tokenizer(completion, add_special_tokens=False)["input_ids"]
        if not ids:
            raise TrainingError("The completion is empty; give some text to inspect.")
        if ends:
            ids = ids[: generation.max_new_tokens - 1] + [eos_token_ids(session)[0]]
        rows.append((ids[: generation.max_new_tokens], ends))
    wanted = group - len(rows)
    if wanted > 0 or not rows:
        sampled = sample(
            session, [query] * max(wanted, 1), generation, generator_seed=seed, with_logprobs=False
        )
        for ids, n, done in zip(
            sampled.response_ids, sampled.response_mask.sum(dim=1).tolist(), sampled.finished,
            strict=True,
        ):  # fmt: skip
            rows.append((ids[: int(n)].tolist(), bool(done)))
    width = max(len(ids) for ids, _ in rows)
    pad = session.tokenizer.pad_token_id or 0
    response = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], device=device)
    response_mask = torch.tensor(
        [[1.0] * len(ids) + [0.0] * (width - len(ids)) for ids, _ in rows], device=device
    )
    queries = torch.tensor([query] * len(rows), device=device)
    return _Tokens(
        query_ids=queries,
        query_mask=torch.ones_like(queries),
        response_ids=response,
        response_mask=response_mask,
        finished=torch.tensor([done for _, done in rows], device=device),
    )


def _scores(reward, prompt, texts, config, finished) -> torch.Tensor:
    """The reward source's scores, less the missing-EOS penalty as the trainer takes it."""
    scores = torch.tensor([float(s) for s in reward.score([prompt] * len(texts), texts)])
    penalty = config.get("missing_eos_penalty")
    if penalty is not None:
        scores[~finished.cpu()] -= float(penalty)
    return scores


def _kl_coef(folder: Path, config: dict[str, Any]) -> float:
    """The KL coefficient the PPO run had reached at this checkpoint."""
    from core.train.checkpoint_io import read_trainer_state

    state = read_trainer_state(folder)
    controller = state.get("kl_controller") or {}
    return float(controller.get("value", config.get("init_kl_coef", 0.0)))


def _value_head(folder: Path, session: ModelSession) -> torch.nn.Module:
    from core.ppo.value_head import VALUE_HEAD_FILE, ValueHead

    head = ValueHead(session.hidden_size).to(session.device)
    head.load(folder / VALUE_HEAD_FILE)
    return head.eval()


def _top_tokens(session, batch: _Tokens, temperature: float, length: int) -> list[list[dict]]:
    """At each of the first completion's positions, the TOP_K most likely next tokens under
    the policy, with their log-probs under the policy and the reference."""
    ids = torch.cat([batch.query_ids[:1], batch.response_ids[:1, :length]], dim=1)
    start = batch.query_ids.shape[1] - 1  # the logits that choose the first response token
    policy = _next_token_logprobs(session.model, ids, start, length, temperature)
    with session.reference():
        reference = _next_token_logprobs(session.model, ids, start, length, temperature)
    top = policy.topk(min(TOP_K, policy.shape[-1]), dim=-1)
    decode = session.tokenizer.decode
    return [
        [
            {
                "token": decode([int(token)]),
                "logprob": float(logprob),
                "ref_logprob": float(reference[t, token]),
            }
            for logprob, token in zip(top.values[t], top.indices[t], strict=True)
        ]
        for t in range(length)
    ]


def _next_token_logprobs(model, ids, start: int, length: int, temperature: float) -> torch.Tensor:
    """(length, V) log-softmax of the logits at the response positions."""
    logits = model(input_ids=ids).logits[0, start : start + length].float()  # (length, V)
    return torch.log_softmax(logits / temperature, dim=-1)
