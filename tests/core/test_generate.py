"""core.model.generate: batched seeded sampling, masks and EOS handling, log-probs."""

import shutil
import threading
import time

import pytest
import torch

from core.config import GenerationConfig, ModelSpec
from core.errors import StudioError
from core.model.generate import (
    encode_prompts,
    generate,
    left_pad,
    response_mask,
    sample,
    sequence_logprobs,
)
from core.model.session import ModelSession

PROMPTS = ["This movie was", "I", "The blender works fine, nothing special"]


def load(path, **overrides) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(path), device="cpu", **overrides))


@pytest.fixture
def session(tiny_model_dir) -> ModelSession:
    return load(tiny_model_dir)


def favour_eos(session: ModelSession, bonus: float) -> None:
    """Add `bonus` to the EOS logit at every position, so responses end at varied lengths."""
    eos = session.tokenizer.eos_token_id

    def hook(module, inputs, output):
        output = output.clone()
        output[..., eos] += bonus
        return output

    session.model.get_output_embeddings().register_forward_hook(hook)


def perturb_lora(session: ModelSession, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in session.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)


def manual_logprobs(model, prompt_ids, response_ids, temperature):
    """Log-probs of one unpadded sequence, computed directly."""
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1] / temperature
    return logits.log_softmax(-1).gather(-1, torch.tensor(response_ids)[:, None])[:, 0]


def test_completions_grouped_per_prompt(session):
    config = GenerationConfig(n=3, max_new_tokens=6, batch_size=4, seed=1)
    done = []
    completions = generate(session, PROMPTS, config, progress=lambda d, t, m: done.append((d, t)))
    assert [c.prompt for c in completions] == [p for p in PROMPTS for _ in range(3)]
    encoded = encode_prompts(session, PROMPTS, config.max_new_tokens)
    for index, completion in enumerate(completions):
        assert completion.prompt_ids == encoded[index // 3]
        assert 1 <= len(completion.response_ids) <= 6
        assert len(completion.logprobs) == len(completion.response_ids)
    assert done[-1] == (9, 9) and len(done) == 1 + 3  # start + one report per batch
    assert generate(session, [], config) == []


def test_same_seed_same_texts_other_seed_other_texts(session):
    def texts(seed):
        config = GenerationConfig(n=2, max_new_tokens=8, batch_size=3, seed=seed)
        return [c.text for c in generate(session, PROMPTS, config)]

    first = texts(7)
    assert texts(7) == first
    assert texts(8) != first
    # Seeding doesn't disturb the caller's random stream.
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    texts(7)
    assert torch.equal(torch.rand(3), expected)


def test_sample_masks_and_eos_handling(session):
    favour_eos(session, bonus=4.0)
    tokenizer = session.tokenizer
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    queries = encode_prompts(session, PROMPTS * 5, 12)
    batch = sample(session, queries, GenerationConfig(max_new_tokens=12), generator_seed=3)
    rows, width = batch.response_ids.shape
    assert batch.query_ids.shape == batch.query_mask.shape == (rows, max(map(len, queries)))
    assert batch.response_mask.shape == batch.logprobs.shape == (rows, width)
    finished_rows = batch.finished.tolist()
    assert any(finished_rows) and not all(finished_rows)  # both kinds are exercised
    for row, query in enumerate(queries):
        # Left padding: real tokens at the end.
        assert batch.query_ids[row, -len(query) :].tolist() == query
        assert batch.query_mask[row].tolist() == [0] * (batch.query_ids.shape[1] - len(query)) + [
            1
        ] * len(query)
        ids = batch.response_ids[row].tolist()
        mask = batch.response_mask[row].tolist()
        length = sum(mask)
        assert mask == [1] * length + [0] * (width - length)
        if finished_rows[row]:
            assert ids[length - 1] == eos and eos not in ids[: length - 1]
            assert ids[length:] == [pad] * (width - length)
        else:
            assert length == width and eos not in ids
    real = batch.response_mask.bool()
    assert torch.isfinite(batch.logprobs).all()
    assert (batch.logprobs[real] <= 0).all() and (batch.logprobs[real] < 0).any()
    assert (batch.logprobs[~real] == 0).all()


def test_completion_text_excludes_prompt_and_eos(session):
    favour_eos(session, bonus=4.0)
    config = GenerationConfig(n=6, max_new_tokens=10, seed=5)
    completions = generate(session, PROMPTS, config)
    eos = session.tokenizer.eos_token_id
    assert any(c.finished for c in completions)
    for completion in completions:
        if completion.finished:
            assert completion.response_ids[-1] == eos
            body = completion.response_ids[:-1]
        else:
            assert eos not in completion.response_ids
            body = completion.response_ids
        assert completion.text == session.tokenizer.decode(body, skip_special_tokens=True)
        assert "<|endoftext|>" not in completion.text


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_logprobs_match_a_manual_forward(tiny_model_dirs, family):
    session = load(tiny_model_dirs[family])
    perturb_lora(session)  # so the adapter takes part in the computation
    config = GenerationConfig(n=2, max_new_tokens=8, temperature=0.7, seed=11)
    for completion in generate(session, PROMPTS, config):
        expected = manual_logprobs(
            session.model, completion.prompt_ids, completion.response_ids, 0.7
        )
        assert torch.allclose(torch.tensor(completion.logprobs), expected, atol=1e-4)


def test_greedy_follows_argmax_and_ignores_seed(session):
    config = GenerationConfig(temperature=0.0, max_new_tokens=6, seed=1)
    completions = generate(session, PROMPTS, config)
    other_seed = generate(
        session, PROMPTS, GenerationConfig(temperature=0.0, max_new_tokens=6, seed=2)
    )
    assert [c.response_ids for c in completions] == [c.response_ids for c in other_seed]
    for completion in completions:
        ids = completion.prompt_ids + completion.response_ids
        with torch.no_grad():
            logits = session.model(input_ids=torch.tensor([ids])).logits[0]
        start = len(completion.prompt_ids)
        argmax = logits[start - 1 : -1].argmax(-1).tolist()
        assert completion.response_ids == argmax
        # Greedy log-probs use temperature 1.
        expected = manual_logprobs(
            session.model, completion.prompt_ids, completion.response_ids, 1.0
        )
        assert torch.allclose(torch.tensor(completion.logprobs), expected, atol=1e-4)


def test_top_k_reaches_the_sampler_and_checkpoint_defaults_do_not(session):
    base = session.model.get_base_model()
    base.generation_config.top_k = 1  # a checkpoint default that must not leak in
    saved = base.generation_config
    config = GenerationConfig(n=4, max_new_tokens=8, seed=0)
    queries = encode_prompts(session, PROMPTS * 4, 8)
    batch = sample(session, queries, config, generator_seed=0)
    assert base.generation_config is saved
    # With top_k off (not HF's default 50) tokens outside the 50 likeliest turn up.
    ids = torch.cat([batch.query_ids, batch.response_ids], dim=1)
    with torch.no_grad():
        logits = session.model(
            input_ids=ids,
            attention_mask=torch.cat([batch.query_mask, batch.response_mask], 1),
            position_ids=(
                torch.cat([batch.query_mask, batch.response_mask], 1).cumsum(-1) - 1
            ).clamp(min=0),
        ).logits[:, batch.query_ids.shape[1] - 1 : -1]
    ranks = (logits > logits.gather(-1, batch.response_ids[..., None])).sum(-1)
    assert (ranks[batch.response_mask.bool()] >= 50).any()
    # top_k=1 is greedy.
    greedy = generate(session, PROMPTS, GenerationConfig(temperature=0.0, max_new_tokens=5))
    top1 = generate(session, PROMPTS, GenerationConfig(top_k=1, max_new_tokens=5, seed=9))
    assert [c.response_ids for c in top1] == [c.response_ids for c in greedy]


def test_use_adapter_false_samples_the_base_model(tiny_model_dir, session):
    perturb_lora(session)
    bare = load(tiny_model_dir, lora=None)
    config = GenerationConfig(n=2, max_new_tokens=8, seed=4)
    reference = generate(session, PROMPTS, config, use_adapter=False)
    base = generate(bare, PROMPTS, config)
    policy = generate(session, PROMPTS, config)
    assert [c.response_ids for c in reference] == [c.response_ids for c in base]
    for ref, bas in zip(reference, base, strict=True):
        assert torch.allclose(torch.tensor(ref.logprobs), torch.tensor(bas.logprobs), atol=1e-5)
    assert [c.response_ids for c in policy] != [c.response_ids for c in base]


def test_padless_tokenizer_masks_come_from_lengths(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    folder = tmp_path / "padless"
    shutil.copytree(tiny_model_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    session = load(folder)
    eos = session.tokenizer.eos_token_id
    assert session.tokenizer.pad_token_id == eos
    favour_eos(session, bonus=4.0)
    # A prompt that itself contains EOS (= pad) keeps it as a real token.
    queries = [[eos, 5, 6], [7]] * 4
    batch = sample(session, queries, GenerationConfig(max_new_tokens=10), generator_seed=2)
    assert batch.query_mask[0].tolist() == [1, 1, 1]
    assert batch.query_mask[1].tolist() == [0, 0, 1]
    assert batch.finished.any()
    for row in range(len(queries)):
        length = int(batch.response_mask[row].sum())
        ids = batch.response_ids[row].tolist()
        if batch.finished[row]:
            assert ids.index(eos) == length - 1  # first EOS ends the mask
    # Log-probs agree with an unpadded forward even though pad == EOS.
    for row, query in enumerate(queries[:2]):
        length = int(batch.response_mask[row].sum())
        response = batch.response_ids[row, :length].tolist()
        expected = manual_logprobs(session.model, query, response, 1.0)
        assert torch.allclose(batch.logprobs[row, :length], expected, atol=1e-4)


def test_helpers_on_hand_made_tensors():
    ids, mask = left_pad([[4, 5, 6], [7]], pad_id=0, device=torch.device("cpu"))
    assert ids.tolist() == [[4, 5, 6], [0, 0, 7]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    responses = torch.tensor([[3, 9, 2, 9], [3, 3, 3, 3], [9, 9, 9, 9]])
    mask, finished = response_mask(responses, eos_ids=[9])
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert finished.tolist() == [True, False, True]


def test_sequence_logprobs_carry_gradients_to_lora(session):
    ids = torch.tensor([[1, 1, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    with torch.enable_grad():
        logprobs = sequence_logprobs(session.model, ids, mask, response_start=3, temperature=1.0)
        assert logprobs.shape == (2, 3) and logprobs[1, 2] == 0
        logprobs.sum().backward()
    # lora_B starts at zero, so lora_A's gradient is zero but lora_B's is not.
    grads = [p.grad for n, p in session.model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_generate_restores_mode_and_grad_state(session):
    session.model.train()
    with torch.enable_grad():
        generate(session, PROMPTS[:1], GenerationConfig(max_new_tokens=3))
        assert torch.is_grad_enabled()
    assert session.model.training
    session.model.eval()
    generate(session, PROMPTS[:1], GenerationConfig(max_new_tokens=3))
    assert not session.model.training


def test_generate_waits_for_the_session_lock(session):
    finished = threading.Event()

    def work():
        generate(session, PROMPTS[:1], GenerationConfig(max_new_tokens=3))
        finished.set()

    with session.lock:
        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(0.3)
        assert not finished.is_set()
    worker.join(timeout=60)
    assert finished.is_set()


def test_invalid_settings_are_studio_errors(session):
    for bad in (
        GenerationConfig(temperature=-1.0),
        GenerationConfig(top_p=0.0),
        GenerationConfig(n=0),
        GenerationConfig(max_new_tokens=0),
    ):
        with pytest.raises(StudioError, match="Invalid generation settings"):
            generate(session, PROMPTS, bad)
    with pytest.raises(StudioError, match="fills the model's whole context"):
        generate(session, PROMPTS, GenerationConfig(max_new_tokens=500))


def test_empty_and_overlong_prompts(session):
    favour_eos(session, bonus=20.0)  # stop at once: only the prompt handling matters here
    config = GenerationConfig(max_new_tokens=100, seed=0)
    long_prompt = "This movie was great fun and the acting was wonderful. " * 20
    completions = generate(session, ["", long_prompt], config)
    assert completions[0].prompt_ids == [session.tokenizer.bos_token_id]
    # n_positions is 128: the prompt keeps its last 28 tokens, the reply gets 100.
    assert len(completions[1].prompt_ids) == 28
    full = session.tokenizer(long_prompt)["input_ids"]
    assert completions[1].prompt_ids == full[-28:]


def test_no_false_attention_mask_notice_when_rows_finish_early(session, monkeypatch):
    """With no padding in the prompts HF drops the attention mask for its decode steps;
    a finished row's pad token then made it tell the user to pass a mask, which we do."""
    import logging

    from transformers.utils import logging as hf_logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(handler)
    hf_logging.warning_once.cache_clear()  # the notice is emitted once per process
    favour_eos(session, 4.0)  # some rows end early and are padded after their EOS
    try:
        batch = sample(session, encode_prompts(session, PROMPTS[:1] * 8, 12),
                       GenerationConfig(max_new_tokens=12), generator_seed=0)  # fmt: skip
    finally:
        logger.removeHandler(handler)
    assert batch.finished.any() and not batch.finished.all()
    assert not [r for r in records if "attention_mask" in r.getMessage()]
