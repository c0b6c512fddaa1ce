"""One log-prob forward pass for generation and PPO (core.model.logprobs): the same numbers as the
two separate computations it replaced, and PPO training results unchanged by it."""

import math
from dataclasses import replace

import pytest
import torch

from core.config import GenerationConfig, ModelSpec, PPOConfig
from core.model.generate import encode_prompts, sample, sequence_logprobs
from core.model.logprobs import response_token_logprobs
from core.model.session import ModelSession
from core.onpolicy import rollout as rollout_module
from core.onpolicy.rollout import ForwardOut, forward_response
from core.ppo import PPOTrainer
from core.ppo import trainer as trainer_module
from core.ppo.value_head import ValueHead

PROMPTS = ["I loved", "The movie was", "Terrible", "The blender", "Boring plot"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# The computations as they were before core.model.logprobs, kept here as the reference.
def old_sequence_logprobs(model, input_ids, attention_mask, response_start, temperature):
    temperature = temperature if temperature > 0 else 1.0
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    keep = input_ids.shape[1] - response_start + 1
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
        logits_to_keep=keep,
    ).logits[:, -keep:-1]
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, response_start:]
    chosen = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = chosen - torch.logsumexp(logits, dim=-1)
    return logprobs.masked_fill(attention_mask[:, response_start:] == 0, 0.0)


def old_forward_response(
    model, value_head, batch, temperature, with_entropy=False, logits_chunk_size=0
):
    # logits_chunk_size: taken (and ignored) as the new signature has it
    input_ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    attention_mask = torch.cat([batch.query_mask.long(), batch.response_mask.long()], dim=1)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    length = batch.response_ids.shape[1]
    outputs = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        output_hidden_states=value_head is not None,
        use_cache=False,
        logits_to_keep=length + 1,
    )
    logits = outputs.logits[:, -(length + 1) : -1].float()
    if temperature != 1.0:
        logits = logits / temperature
    log_normaliser = torch.logsumexp(logits, dim=-1)
    chosen = logits.gather(-1, batch.response_ids.unsqueeze(-1)).squeeze(-1)
    logprobs = chosen - log_normaliser
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = log_normaliser - (torch.softmax(logits, -1) * logits).sum(-1)
    values = None
    if value_head is not None:
        start = batch.query_ids.shape[1] - 1
        values = value_head(outputs.hidden_states[-1][:, start : start + length])
    return ForwardOut(logprobs=logprobs, values=values, entropy=entropy)


def load(folder) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))


@pytest.fixture(params=["gpt2", "llama"])
def session(request, tiny_model_dirs):
    return load(tiny_model_dirs[request.param])


def _sampled(session, temperature=0.7):
    config = GenerationConfig(max_new_tokens=6, temperature=temperature)
    queries = encode_prompts(session, PROMPTS, config.max_new_tokens)  # unequal: left padding
    return sample(session, queries, config, generator_seed=3, with_logprobs=False)


def _close(new, old):
    assert new.shape == old.shape
    assert torch.allclose(new, old, atol=1e-6, rtol=0), (new - old).abs().max()


@pytest.mark.parametrize("temperature", [0.7, 1.0, 0.0])
def test_generation_log_probs_equal_the_old_computation(session, temperature):
    batch = _sampled(session)
    ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    mask = torch.cat([batch.query_mask, batch.response_mask], dim=1)
    start = batch.query_ids.shape[1]
    with torch.no_grad():
        new = sequence_logprobs(session.model, ids, mask, start, temperature)
        old = old_sequence_logprobs(session.model, ids, mask, start, temperature)
    _close(new, old)
    assert (new[batch.response_mask == 0] == 0).all()


def test_ppo_forward_pass_equals_the_old_computation(session):
    batch = _sampled(session)
    torch.manual_seed(0)
    value_head = ValueHead(session.hidden_size)
    torch.nn.init.normal_(value_head.summary.weight)  # not the zero start: values must differ
    with torch.no_grad():
        new = forward_response(session.model, value_head, batch, 0.7, with_entropy=True)
        old = old_forward_response(session.model, value_head, batch, 0.7, with_entropy=True)
    _close(new.logprobs, old.logprobs)
    _close(new.values, old.values)
    _close(new.entropy, old.entropy)
    assert new.values.abs().sum() > 0


def test_generation_and_ppo_share_the_numbers(session):
    """The sampler's log-probs are the trainer's, where the response is real."""
    config = GenerationConfig(max_new_tokens=6, temperature=0.7)
    queries = encode_prompts(session, PROMPTS, config.max_new_tokens)
    batch = sample(session, queries, config, generator_seed=3)
    with torch.no_grad():
        out = forward_response(session.model, None, batch, 0.7)
    real = batch.response_mask.bool()
    assert torch.equal(out.logprobs[real], batch.logprobs[real])


def test_gradients_flow_through_the_shared_pass(session):
    batch = _sampled(session)
    ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    mask = torch.cat([batch.query_mask, batch.response_mask], dim=1)
    tokens = response_token_logprobs(
        session.model, ids, mask, batch.response_ids.shape[1], 1.0, with_hidden=True
    )
    assert tokens.entropy is None and tokens.hidden.shape[:2] == batch.response_ids.shape
    tokens.logprobs.sum().backward()
    lora = [p for n, p in session.model.named_parameters() if "lora_" in n]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)


def test_a_response_of_no_tokens_is_refused(session):
    ids = torch.ones((1, 4), dtype=torch.long)
    with pytest.raises(ValueError):
        response_token_logprobs(session.model, ids, torch.ones_like(ids), 0, 1.0)


def _train(folder, config):
    session = load(folder)
    trainer = PPOTrainer(session, LetterReward(), PROMPTS, config)
    return [result.metrics for result in trainer]


class LetterReward:
    name = "letter_e"

    def score(self, prompts, responses):
        return [text.count("e") / max(1, len(text)) for text in responses]


def test_ppo_training_results_are_unchanged(tiny_model_dir, monkeypatch):
    """Two PPO steps (rollout, two epochs of updates) give the same metrics through the
    shared pass as through the old forward pass."""
    # The shared pass drops the columns a minibatch does not use, so its sums run over other
    # shapes (differences near 1e-7). A clip fraction counts tokens past a threshold, and a
    # token lying on it flips on such a difference: a value clip wide enough that none
    # reaches it keeps the comparison exact.
    config = PPOConfig(
        steps=2, batch_size=4, mini_batch_size=2, ppo_epochs=2, max_new_tokens=6,
        samples_per_step=0, learning_rate=1e-2, seed=1, cliprange_value=10.0,
    )  # fmt: skip
    new = _train(tiny_model_dir, config)
    monkeypatch.setattr(rollout_module, "forward_response", old_forward_response)
    monkeypatch.setattr(trainer_module, "forward_response", old_forward_response)
    old = _train(tiny_model_dir, replace(config))
    for new_step, old_step in zip(new, old, strict=True):
        for key in new_step.keys() - {"perf/samples_per_s", "perf/step_time_s"}:
            if key == "perf/peak_mem_bytes":
                continue
            assert math.isclose(new_step[key], old_step[key], rel_tol=0, abs_tol=1e-6), key
    assert new[1]["objective/kl"] != 0.0  # the policy moved: the update path was exercised


def test_the_pass_skips_columns_no_row_uses_and_gives_the_same_figures(session, monkeypatch):
    """A minibatch whose prompts are all shorter than the rollout's longest, and whose
    answers all end early, is scored without those columns: same log-probs, values and
    entropy (zeros past the last answer token), on a narrower input."""
    from core.onpolicy.rollout import _Tokens

    torch.manual_seed(0)
    query = torch.tensor([[5, 6, 7], [8, 9, 10]])
    response = torch.tensor([[11, 12, 13], [14, 15, 16]])
    compact = _Tokens(query, torch.ones_like(query), response,
                      torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]), torch.ones(2))  # fmt: skip
    pad = session.tokenizer.pad_token_id or 0
    padded = _Tokens(  # two unused prompt columns in front, two unused answer columns behind
        torch.cat([torch.full((2, 2), pad), query], dim=1),
        torch.cat([torch.zeros(2, 2, dtype=torch.long), torch.ones_like(query)], dim=1),
        torch.cat([response, torch.full((2, 2), pad)], dim=1),
        torch.cat([compact.response_mask, torch.zeros(2, 2)], dim=1),
        torch.ones(2),
    )
    widths = []
    real = rollout_module.response_token_logprobs

    def measured(model, input_ids, *args, **kwargs):
        widths.append(input_ids.shape[1])
        return real(model, input_ids, *args, **kwargs)

    monkeypatch.setattr(rollout_module, "response_token_logprobs", measured)
    head = ValueHead(session.model.config.hidden_size)
    with torch.no_grad():
        small = forward_response(session.model, head, compact, 1.0, with_entropy=True)
        wide = forward_response(session.model, head, padded, 1.0, with_entropy=True)
    assert widths == [6, 6]
    for name in ("logprobs", "values", "entropy"):
        got, want = getattr(wide, name), getattr(small, name)
        assert got.shape == (2, 5) and torch.all(got[:, 3:] == 0), name
        assert torch.allclose(got[:, :3], want, atol=1e-5), name
