"""The next-token draw of core.model.sampling: the distribution it samples, the warpers
it applies, and seeded generation repeating itself."""

from __future__ import annotations

import torch

from core.model.sampling import InverseCdfSampling, draw


def test_draws_follow_the_probabilities_and_never_pick_a_zero():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(40_000, 1)
    torch.manual_seed(0)
    tokens = draw(probs)
    counts = torch.bincount(tokens, minlength=6).float() / len(tokens)
    assert counts[[0, 2, 5]].sum() == 0
    assert torch.allclose(counts, probs[0], atol=0.01)


def test_a_row_of_one_certain_token_always_draws_it():
    probs = torch.zeros(50, 1000)
    probs[:, 999] = 1.0  # the last token: the search must not run past the end
    probs[:25, 999], probs[:25, 0] = 0.0, 1.0
    tokens = draw(probs)
    assert tokens[:25].eq(0).all() and tokens[25:].eq(999).all()


def test_the_sampler_applies_top_k_and_hands_greedy_decoding_its_draw():
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]]).repeat(5000, 1)
    sampler = InverseCdfSampling(temperature=2.0, top_k=2)
    torch.manual_seed(1)
    out = sampler(torch.zeros(5000, 1, dtype=torch.long), scores)
    assert torch.isinf(out).sum(dim=1).eq(4).all()  # one finite entry per row
    tokens = out.argmax(dim=1)
    assert set(tokens.tolist()) == {0, 1}  # top-2 only
    # softmax([4, 3] / 2): token 0 with probability 1 / (1 + e^-0.5) = 0.622
    assert abs(tokens.eq(0).float().mean().item() - 0.622) < 0.03


def test_top_p_keeps_the_smallest_set_over_p():
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    torch.manual_seed(2)
    tokens = InverseCdfSampling(1.0, top_p=0.7)(torch.zeros(4000, 1, dtype=torch.long), scores)
    assert set(tokens.argmax(dim=1).tolist()) == {0, 1}


def test_seeded_generation_repeats_and_rows_differ(tiny_model_dir):
    from core.config import GenerationConfig, ModelSpec
    from core.model.generate import generate
    from core.model.session import ModelSession

    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    config = GenerationConfig(max_new_tokens=12, n=6, seed=5, temperature=1.0)
    first = [c.text for c in generate(session, ["Hello"], config)]
    again = [c.text for c in generate(session, ["Hello"], config)]
    assert first == again
    assert len(set(first)) > 1  # sampled, not greedy


def test_generation_draws_the_first_token_from_the_models_own_distribution(tiny_model_dir):
    """4,000 one-token samples of the tiny model: each of its five likeliest first tokens
    comes up as often as softmax(logits / T) says, within four standard errors."""
    from core.config import GenerationConfig, ModelSpec
    from core.model.generate import encode_prompts, sample
    from core.model.session import ModelSession

    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    query = encode_prompts(session, ["The film was"], 1)[0]
    n, temperature = 4000, 0.7
    config = GenerationConfig(max_new_tokens=1, temperature=temperature, batch_size=n)
    drawn = sample(session, [query] * n, config, generator_seed=3, with_logprobs=False)
    with torch.no_grad():
        logits = session.model(input_ids=torch.tensor([query])).logits[0, -1]
    probs = torch.softmax(logits / temperature, dim=-1)
    counts = torch.bincount(drawn.response_ids[:, 0], minlength=len(probs)).float() / n
    for token in probs.topk(5).indices:
        p = probs[token].item()
        assert abs(counts[token].item() - p) < 4 * (p * (1 - p) / n) ** 0.5 + 1e-3, token
