"""Batched sampling with seeds: token ids, masks, per-token log-probs and text.

Sampling uses HF `model.generate`; log-probs are then recomputed with one forward pass by
`sequence_logprobs`, over core.model.logprobs.response_token_logprobs: the forward pass PPO's
rollout and update use too (and differentiate), so sampler and trainer log-probs come
from the same maths. They are log-probs under
softmax(logits / temperature) (temperature 1 for greedy decoding); top-k / top-p
truncation is not reflected in them, which is why PPO rollouts leave both off.

Padding: queries are left-padded, responses right-padded after their first EOS. Pad ids
may equal EOS ids (tokenizers without a pad token), so every mask here is built from
lengths and EOS positions, never from `ids != pad_token_id`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor
from transformers import GenerationConfig as HFGenerationConfig
from transformers import GenerationMixin, LogitsProcessorList

from core.config import GenerationConfig, to_dict
from core.data.prompt_format import check_plain_prompts, prompt_token_ids
from core.errors import ModelLoadError, StudioError
from core.model.backbone import base_model
from core.model.logprobs import response_token_logprobs
from core.model.sampling import InverseCdfSampling
from core.model.session import ModelSession
from core.progress import Progress, no_progress


@dataclass(frozen=True)
class SampledBatch:
    """One sampled batch; tensors on session.device."""

    query_ids: Tensor  # (B, Tq) left-padded with pad_token_id
    query_mask: Tensor  # (B, Tq) 1 = real token
    response_ids: Tensor  # (B, Tr) right-padded with pad_token_id after EOS (EOS kept)
    response_mask: Tensor  # (B, Tr) 1 for generated tokens up to and including the first EOS
    logprobs: Tensor | None  # (B, Tr) log p(token) under softmax(logits / T); 0 where masked
    finished: Tensor  # (B,) bool: the response contains EOS


@dataclass(frozen=True)
class Completion:
    """One completion of one prompt, as plain Python data."""

    prompt: str
    text: str
    """The response decoded without the prompt, the EOS and other special tokens."""
    prompt_ids: list[int]
    response_ids: list[int]
    """Generated ids up to and including the first EOS (the tokens with mask 1)."""
    logprobs: list[float]
    """One log-prob per response id."""
    finished: bool
    """Whether the model emitted EOS (False: cut off at max_new_tokens)."""


MAX_SEED = 2**31 - 1
"""The largest --seed (the same range as the trainers' seed)."""


def check_generation_config(config: GenerationConfig) -> None:
    """Raise a StudioError naming the first setting out of range."""
    seed = config.seed
    problems = [
        (config.max_new_tokens < 1, "max_new_tokens must be at least 1"),
        (
            not (math.isfinite(config.temperature) and config.temperature >= 0),
            f"temperature is {config.temperature}; use a finite number >= 0 (0 = greedy)",
        ),
        (not 0 < config.top_p <= 1, "top_p must be in (0, 1]"),
        (config.top_k < 0, "top_k must be >= 0 (0 = off)"),
        (config.n < 1, "n (completions per prompt) must be at least 1"),
        (config.batch_size < 1, "batch_size must be at least 1"),
        # torch's generator takes 64-bit seeds, and batch i samples with seed + i; the
        # range is the trainers' own (PPOConfig.seed).
        (
            seed is not None and not 0 <= seed <= MAX_SEED,
            f"seed is {seed}; use a whole number from 0 to {MAX_SEED}",
        ),
    ]
    for bad, message in problems:
        if bad:
            raise StudioError(f"Invalid generation settings: {message}.")


def eos_token_ids(session: ModelSession) -> list[int]:
    """Every id that ends a response: the tokenizer's EOS and the model's generation EOS ids."""
    ids = {session.tokenizer.eos_token_id}
    generation_eos = getattr(base_model(session.model).generation_config, "eos_token_id", None)
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(generation_eos)
    return sorted(i for i in ids if i is not None)


def encode_prompts(
    session: ModelSession, prompts: Sequence[str], max_new_tokens: int
) -> list[list[int]]:
    """Token ids per prompt (with the tokenizer's special tokens, e.g. Llama's BOS), in the
    session's prompt format (plain text, or a user message in the chat template).

    An empty prompt becomes [BOS] (or [EOS]); a prompt too long for the context window
    keeps its last tokens, the ones next to the response.
    """
    tokenizer = session.tokenizer
    limit = _context_length(session)
    budget = None if limit is None else limit - max_new_tokens
    if budget is not None and budget < 1:
        raise StudioError(
            f"max_new_tokens={max_new_tokens} fills the model's whole context ({limit} tokens); "
            "lower it."
        )
    start_id = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    check_plain_prompts(prompts, session.prompt_format)
    encoded = []
    for prompt in prompts:
        ids = prompt_token_ids(tokenizer, prompt, session.prompt_format)
        if not ids and start_id is not None:
            ids = [start_id]
        if budget is not None and len(ids) > budget:
            ids = ids[-budget:]
        encoded.append(ids)
    return encoded


def left_pad(
    sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(ids, mask), both (B, T): sequences right-aligned, mask 1 on real tokens."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids.to(device), mask.to(device)


def response_mask(response_ids: Tensor, eos_ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """(mask (B, Tr) long, finished (B,) bool): 1 up to and including each row's first EOS."""
    width = response_ids.shape[1]
    eos = torch.tensor(list(eos_ids), dtype=response_ids.dtype, device=response_ids.device)
    is_eos = torch.isin(response_ids, eos)  # (B, Tr)
    finished = is_eos.any(dim=-1)  # (B,)
    first_eos = torch.where(finished, is_eos.int().argmax(dim=-1), width)  # (B,)
    positions = torch.arange(width, device=response_ids.device)  # (Tr,)
    mask = (positions[None, :] <= first_eos[:, None]).long()  # (B, Tr)
    return mask, finished


def sequence_logprobs(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    response_start: int,
    temperature: float,
) -> Tensor:
    """Per-token log p(input_ids[:, t]) for t >= response_start, under softmax(logits / T).

    input_ids, attention_mask: (B, T), left-padded queries then responses. Returns
    (B, T - response_start), 0 where attention_mask is 0. Gradients flow when enabled.
    The forward pass is core.model.logprobs.response_token_logprobs, PPO's too.
    """
    if response_start < 1:
        raise ValueError("response_start must be >= 1: the first token has no prediction.")
    length = input_ids.shape[1] - response_start
    tokens = response_token_logprobs(model, input_ids, attention_mask, length, temperature)
    return tokens.logprobs.masked_fill(attention_mask[:, response_start:] == 0, 0.0)


def sample(
    session: ModelSession,
    query_ids: list[list[int]],
    config: GenerationConfig,
    *,
    use_adapter: bool = True,
    generator_seed: int | None = None,
    with_logprobs: bool = True,
    reference: bool = False,
) -> SampledBatch:
    """Sample one batch of responses to `query_ids` (no grad; dropout off during it).

    The same generator_seed gives the same samples for the same queries and settings.
    with_logprobs=False leaves `logprobs` None and saves a forward pass, for callers that
    compute them (the PPO rollout gets them with the values, in its own pass).
    `generate` runs under inference_mode (a few percent faster per token than no_grad on
    small models, where each op's bookkeeping counts), and its output is copied out of it:
    the trainers feed these tensors into differentiable forwards, which inference tensors
    refuse. A sharded model (FSDP) keeps no_grad, which its parameter views need.
    """
    from core.model.sharding import is_sharded  # lazy: core.train imports this module's users

    check_generation_config(config)
    if session.model is None:
        raise ModelLoadError("The model was unloaded; load it again before generating.")
    if not query_ids or any(len(ids) == 0 for ids in query_ids):
        raise ValueError(
            "sample() needs at least one query and no empty ones (see encode_prompts)."
        )
    tokenizer, model = session.tokenizer, session.model
    pad_id = tokenizer.pad_token_id
    eos_ids = eos_token_ids(session)
    queries, query_mask = left_pad(query_ids, pad_id, session.device)  # (B, Tq)
    # use_adapter=False: the base (adapter off); reference=True: the run's KL reference.
    adapter: contextlib.AbstractContextManager[object]
    if reference:
        adapter = session.reference()
    else:
        adapter = contextlib.nullcontext() if use_adapter else session.base()
    with session.lock, torch.no_grad(), _eval_mode(model), adapter:
        with (
            _neutral_generation_config(session, eos_ids),
            _seeded(generator_seed, session.device),
            _no_false_mask_notice(),
        ):
            sampling = torch.no_grad() if is_sharded(model) else torch.inference_mode()
            with sampling:
                # A causal LM (or a PeftModel for CAUSAL_LM) generates: transformers' stubs
                # give PreTrainedModel no generate(), its causal-LM classes mix it in.
                output = cast(GenerationMixin, model).generate(
                    input_ids=queries,
                    attention_mask=query_mask,
                    max_new_tokens=config.max_new_tokens,
                    pad_token_id=pad_id,
                    eos_token_id=eos_ids or None,
                    use_cache=True,  # whatever the config says (e.g. after gradient checkpointing)
                    # Sharded (FSDP): each forward is a collective, so a rank whose rows are
                    # done keeps stepping until every rank is (core.model.sharding).
                    synced_gpus=is_sharded(model),
                    **_sampling_kwargs(config),
                )  # (B, Tq + Tr)
        responses = output[:, queries.shape[1] :]  # (B, Tr), still an inference tensor
        mask, finished = response_mask(responses, eos_ids)
        responses = responses.masked_fill(mask == 0, pad_id)  # out here: a plain copy
        logprobs = None
        if with_logprobs:
            logprobs = sequence_logprobs(
                model,
                torch.cat([queries, responses], dim=1),
                torch.cat([query_mask, mask], dim=1),
                queries.shape[1],
                config.temperature,
            )
    return SampledBatch(queries, query_mask, responses, mask, logprobs, finished)


def generate(
    session: ModelSession,
    prompts: Sequence[str],
    config: GenerationConfig,
    *,
    use_adapter: bool = True,
    progress: Progress | None = None,
) -> list[Completion]:
    """config.n completions per prompt, grouped per prompt (prompt 0's first, ...).

    Works in batches of config.batch_size under session.lock. Batch i samples with seed
    config.seed + i, so the same prompts, n, batch_size and seed give the same texts;
    seed None draws a fresh one.
    """
    check_generation_config(config)
    report = progress or no_progress
    if not prompts:
        return []
    seed = config.seed if config.seed is not None else secrets.randbits(31)
    rows = [index for index in range(len(prompts)) for _ in range(config.n)]
    completions: list[Completion] = []
    with session.lock:
        encoded = encode_prompts(session, prompts, config.max_new_tokens)
        report(0, len(rows), "Generating")
        for batch_number, start in enumerate(range(0, len(rows), config.batch_size)):
            chunk = rows[start : start + config.batch_size]
            batch = sample(
                session,
                [encoded[i] for i in chunk],
                config,
                use_adapter=use_adapter,
                generator_seed=seed + batch_number,
            )
            completions += _completions(
                session, batch, [prompts[i] for i in chunk], [encoded[i] for i in chunk]
            )
            report(len(completions), len(rows), f"{len(completions)}/{len(rows)} completions")
    return completions


def generation_params(session: ModelSession, config: GenerationConfig) -> dict:
    """What a stored generation records of how it was sampled: the settings, and the
    prompt format the model saw (the same prompt text reads differently as a chat turn)."""
    return {**to_dict(config), "prompt_format": session.prompt_format}


def _completions(
    session: ModelSession, batch: SampledBatch, prompts: list[str], prompt_ids: list[list[int]]
) -> list[Completion]:
    lengths = batch.response_mask.sum(dim=-1).tolist()
    responses = batch.response_ids.tolist()
    if batch.logprobs is None:
        raise ValueError("_completions needs a batch sampled with_logprobs=True.")
    logprobs = batch.logprobs.float().tolist()
    finished = batch.finished.tolist()
    result = []
    for row, length in enumerate(lengths):
        ids = responses[row][:length]
        text_ids = ids[:-1] if finished[row] else ids  # the EOS is not text
        # One flat id list decodes to one string (the stubs allow a list for batches).
        text = cast(str, session.tokenizer.decode(text_ids, skip_special_tokens=True))
        result.append(
            Completion(
                prompts[row],
                text,
                list(prompt_ids[row]),
                ids,
                logprobs[row][:length],
                bool(finished[row]),
            )
        )
    return result


def _sampling_kwargs(config: GenerationConfig) -> dict:
    """Greedy decoding; with a temperature, over scores in which InverseCdfSampling has
    already drawn the token (core.model.sampling: HF's multinomial draw is slow on CPU)."""
    if config.temperature == 0:
        return {"do_sample": False}
    sampler = InverseCdfSampling(config.temperature, config.top_k, config.top_p)
    return {"do_sample": False, "logits_processor": LogitsProcessorList([sampler])}


def _context_length(session: ModelSession) -> int | None:
    config = base_model(session.model).config.get_text_config()
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Dropout off while sampling; the caller's train/eval mode comes back afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _neutral_generation_config(session: ModelSession, eos_ids: list[int]) -> Iterator[None]:
    """Sample with exactly our settings: a checkpoint's generation_config.json (e.g. its
    repetition_penalty or top_k) would otherwise fill every setting we leave unset."""
    base = base_model(session.model)
    saved = base.generation_config
    tokenizer = session.tokenizer
    base.generation_config = HFGenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos_ids or None,
        pad_token_id=tokenizer.pad_token_id,
    )
    try:
        yield
    finally:
        base.generation_config = saved


class _MaskNoticeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "strongly recommend passing in an `attention_mask`" not in record.getMessage()


@contextlib.contextmanager
def _no_false_mask_notice() -> Iterator[None]:
    """Hide transformers' "pass an attention_mask" notice while sampling. When no prompt is
    padded HF drops our all-ones mask for its decode steps, and a finished row's pad token
    then looks like unmasked padding: a false alarm, shown to users of the CLI and the app."""
    logger = logging.getLogger("transformers.modeling_utils")
    notice_filter = _MaskNoticeFilter()
    logger.addFilter(notice_filter)
    try:
        yield
    finally:
        logger.removeFilter(notice_filter)


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG for the block, then restore it so other users' streams are untouched."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
