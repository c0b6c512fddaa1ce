"""The output layer gets a contiguous input (core.model.backbone.contiguous_output_layer_input):
one folded matrix product for the response positions' logits, the same numbers as before."""

import pytest
import torch

from core.config import LoraSpec, ModelSpec
from core.model.backbone import contiguous_output_layer_input
from core.model.logprobs import response_token_logprobs
from core.model.session import ModelSession

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(params=["gpt2", "llama"])
def session(request, tiny_model_dirs):
    folder = str(tiny_model_dirs[request.param])
    return ModelSession.load(
        ModelSpec(name_or_path=folder, device="cpu", lora=LoraSpec(r=4, alpha=8))
    )


def _batch(session):
    torch.manual_seed(0)
    ids = torch.randint(3, session.tokenizer.vocab_size, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # a left-padded row
    return ids, mask


def _head(session):
    return session.model.get_output_embeddings()


def test_a_loaded_model_hands_its_output_layer_a_contiguous_input(session):
    seen = []
    _head(session).register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    ids, mask = _batch(session)
    with torch.no_grad():
        response_token_logprobs(session.model, ids, mask, 4, 1.0)
    assert seen and all(x.is_contiguous() for x in seen)


def test_the_logits_take_one_folded_product_not_a_batched_one(session):
    ids, mask = _batch(session)
    with torch.no_grad(), torch.profiler.profile() as profile:
        response_token_logprobs(session.model, ids, mask, 4, 1.0)
    names = {event.name for event in profile.events()}
    assert "aten::bmm" not in names  # a strided (B, k, H) input is multiplied row by row


def test_numbers_and_gradients_are_those_of_the_strided_input(session):
    ids, mask = _batch(session)
    trained = [p for p in session.model.parameters() if p.requires_grad]

    def run():
        out = response_token_logprobs(session.model, ids, mask, 4, 0.7).logprobs
        grads = torch.autograd.grad(out.sum(), trained)
        return out.detach(), grads

    with_copy, grads_with_copy = run()
    hooks = _head(session)._forward_pre_hooks
    saved = dict(hooks)
    hooks.clear()  # the model as transformers gives it
    try:
        strided, grads_strided = run()
    finally:
        hooks.update(saved)
    assert torch.allclose(with_copy, strided, atol=1e-6, rtol=0)
    for a, b in zip(grads_with_copy, grads_strided, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_installing_twice_adds_one_hook(session):
    before = len(_head(session)._forward_pre_hooks)
    contiguous_output_layer_input(session.model)
    contiguous_output_layer_input(session.model)
    assert before == 1
    assert len(_head(session)._forward_pre_hooks) == 1
