"""core.model.generate.sample runs `generate` under inference_mode, and what it returns is still a
plain tensor: the trainers feed the sampled ids into differentiable forward passes."""

import torch

from core.config import GenerationConfig, ModelSpec
from core.model.generate import encode_prompts, sample
from core.model.logprobs import response_token_logprobs
from core.model.session import ModelSession


def test_sampled_ids_are_plain_tensors_a_backward_pass_takes(tiny_model_dir):
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    queries = encode_prompts(session, ["This movie was", "I"], max_new_tokens=4)
    config = GenerationConfig(max_new_tokens=4, temperature=1.0, top_k=0, top_p=1.0)

    batch = sample(session, queries, config, generator_seed=0)

    for tensor in (batch.query_ids, batch.response_ids, batch.response_mask, batch.finished):
        assert not tensor.is_inference()
    # The update pass differentiates through the embedding of these ids: an inference
    # tensor would be refused there ("Inference tensors cannot be saved for backward").
    ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    mask = torch.cat([batch.query_mask, batch.response_mask], dim=1)
    with torch.enable_grad():
        out = response_token_logprobs(session.model, ids, mask, batch.response_ids.shape[1], 1.0)
        (out.logprobs * batch.response_mask).sum().backward()
    grads = [p.grad for p in session.model.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)
    # The same seed samples the same tokens, as before.
    again = sample(session, queries, config, generator_seed=0)
    assert torch.equal(again.response_ids, batch.response_ids)
