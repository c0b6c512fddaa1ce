"""Log-probs and entropy without the whole logits (core.model.logprobs): per chunk of positions,
from the model's logits or from the last hidden state through the output layer, the same
numbers and the same LoRA gradients as the whole-logits computation, and no more than
one chunk of logits kept for the backward pass."""

from __future__ import annotations

import pytest
import torch

from core.config import GenerationConfig, LoraSpec, ModelSpec
from core.model import logprobs as logprobs_module
from core.model.backbone import base_model
from core.model.generate import encode_prompts, sample
from core.model.logprobs import output_layer, response_token_logprobs
from core.model.session import ModelSession
from core.onpolicy.rollout import forward_response
from core.ppo.value_head import ValueHead

PROMPTS = ["I loved", "The movie was", "Terrible", "The blender", "Boring plot"]
CHUNKS = [1, 2, 5, 64]  # 64: one chunk covering every position

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def load(folder, lora: LoraSpec | None = None) -> ModelSession:
    spec = ModelSpec(name_or_path=str(folder), device="cpu", lora=lora or LoraSpec(seed=1))
    session = ModelSession.load(spec)
    with torch.no_grad():  # LoRA B starts at 0: move it so the adapter matters
        for name, param in session.model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.05)
    return session


@pytest.fixture(params=["gpt2", "llama"])
def session(request, tiny_model_dirs):
    return load(tiny_model_dirs[request.param])


def _batch(session):
    config = GenerationConfig(max_new_tokens=6, temperature=0.7)
    queries = encode_prompts(session, PROMPTS, config.max_new_tokens)  # unequal: left padding
    batch = sample(session, queries, config, generator_seed=3, with_logprobs=False)
    ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    mask = torch.cat([batch.query_mask, batch.response_mask], dim=1)
    return batch, ids, mask, batch.response_ids.shape[1]


def whole_logits_reference(model, ids, mask, length, temperature):
    """The plain computation: every logit at once, log_softmax, -sum p log p."""
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    logits = logits[:, -(length + 1) : -1].float() / temperature
    logp = torch.log_softmax(logits, dim=-1)
    chosen = logp.gather(-1, ids[:, -length:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return chosen, entropy.detach()


def _close(new, old, scaled=False):
    """Equal to 1e-5; `scaled`: to 1e-5 of the largest entry (gradients here reach the
    hundreds, and float32 sums in another order differ by ~1e-7 of that)."""
    assert new.shape == old.shape
    tolerance = 1e-5 * max(1.0, old.abs().max().item()) if scaled else 1e-5
    assert (new - old).abs().max() <= tolerance, (new - old).abs().max()


def _lora_grads(model) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("chunk", [0, *CHUNKS])
def test_chunked_log_probs_and_entropy_equal_the_whole_logits(session, chunk):
    _, ids, mask, length = _batch(session)
    with torch.no_grad():
        expected, expected_entropy = whole_logits_reference(session.model, ids, mask, length, 0.7)
        tokens = response_token_logprobs(
            session.model, ids, mask, length, 0.7, with_entropy=True, logits_chunk_size=chunk
        )
    _close(tokens.logprobs, expected)
    _close(tokens.entropy, expected_entropy)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_chunks_give_the_whole_logits_gradients_on_lora_and_the_value_head(session, chunk):
    batch, *_ = _batch(session)
    torch.manual_seed(0)
    value_head = ValueHead(session.hidden_size)
    torch.nn.init.normal_(value_head.summary.weight)
    weights = torch.randn(batch.response_ids.shape)  # a loss that weighs every position

    def grads(logits_chunk_size):
        out = forward_response(
            session.model, value_head, batch, 0.7, logits_chunk_size=logits_chunk_size
        )
        ((out.logprobs * weights).sum() + (out.values**2).sum()).backward()
        found = _lora_grads(session.model)
        found["value_head"] = value_head.summary.weight.grad.clone()
        value_head.zero_grad(set_to_none=True)
        return found

    whole, chunked = grads(0), grads(chunk)
    assert whole.keys() == chunked.keys() and any("lora_" in name for name in whole)
    for name in whole:
        _close(chunked[name], whole[name], scaled=True)
    assert any(g.abs().sum() > 0 for n, g in whole.items() if "lora_" in n)


def test_lora_on_the_output_layer_is_applied_and_trained_per_chunk(tiny_model_dir):
    """The app never targets the output layer, but a PEFT model that does still works."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    session = load(tiny_model_dir)
    torch.manual_seed(1)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "lm_head"], init_lora_weights=False
    )
    session.model = get_peft_model(plain, lora).eval()
    assert "lora" in type(output_layer(session.model).head).__module__  # the LoRA wrapper
    _, ids, mask, length = _batch(session)
    expected, _ = whole_logits_reference(session.model, ids, mask, length, 0.7)
    expected.sum().backward()
    whole = _lora_grads(session.model)
    tokens = response_token_logprobs(session.model, ids, mask, length, 0.7, logits_chunk_size=2)
    _close(tokens.logprobs, expected.detach())
    tokens.logprobs.sum().backward()
    chunked = _lora_grads(session.model)
    head_grads = [name for name in whole if "lm_head" in name]
    assert head_grads and whole.keys() == chunked.keys()
    for name in whole:
        _close(chunked[name], whole[name], scaled=True)


def test_the_reference_pass_is_the_same_code_with_the_adapter_off(session):
    _, ids, mask, length = _batch(session)
    with torch.no_grad(), session.reference() as base:
        expected, _ = whole_logits_reference(base, ids, mask, length, 1.0)
        chunked = response_token_logprobs(base, ids, mask, length, 1.0, logits_chunk_size=2)
    with torch.no_grad():
        policy = response_token_logprobs(session.model, ids, mask, length, 1.0)
    _close(chunked.logprobs, expected)
    assert not torch.allclose(policy.logprobs, expected)  # the adapter was really off


def test_no_more_than_one_chunk_of_logits_is_kept_for_backward(tiny_model_dir):
    session = load(tiny_model_dir)
    _, ids, mask, length = _batch(session)
    vocab = base_model(session.model).config.vocab_size

    def largest_kept(**options):
        sizes = [0]

        def pack(tensor):
            if tensor.dim() == 3 and tensor.shape[-1] == vocab:
                sizes.append(tensor.shape[1])
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            response_token_logprobs(session.model, ids, mask, length, 0.7, **options)
        return max(sizes)

    assert largest_kept(logits_chunk_size=0) >= length  # the whole-logits baseline keeps them
    assert largest_kept(logits_chunk_size=2) == 0  # only hidden states: logits recomputed


def test_the_model_logits_path_is_chunked_too_when_they_are_large(session, monkeypatch):
    """Without logits_chunk_size the float32 work still goes a few positions at a time."""
    _, ids, mask, length = _batch(session)
    vocab = base_model(session.model).config.vocab_size
    monkeypatch.setattr(logprobs_module, "AUTO_CHUNK_ELEMENTS", len(PROMPTS) * vocab * 2)
    expected, expected_entropy = whole_logits_reference(session.model, ids, mask, length, 0.7)
    expected.sum().backward()
    whole = _lora_grads(session.model)
    tokens = response_token_logprobs(session.model, ids, mask, length, 0.7, with_entropy=True)
    _close(tokens.logprobs, expected.detach())
    _close(tokens.entropy, expected_entropy)
    tokens.logprobs.sum().backward()
    chunked = _lora_grads(session.model)
    for name in whole:
        _close(chunked[name], whole[name], scaled=True)


def test_a_model_that_changes_its_logits_after_the_head_keeps_the_model_path(tiny_model_dirs):
    session = load(tiny_model_dirs["llama"])
    causal = base_model(session.model)
    causal.register_forward_hook(lambda _m, _i, out: out.__setitem__("logits", out.logits * 2))
    _, ids, mask, length = _batch(session)
    assert output_layer(session.model) is None  # found out once, then remembered
    with torch.no_grad():
        expected, _ = whole_logits_reference(session.model, ids, mask, length, 1.0)
        tokens = response_token_logprobs(session.model, ids, mask, length, 1.0, logits_chunk_size=2)
    _close(tokens.logprobs, expected)
