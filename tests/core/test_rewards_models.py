"""Model-based rewards: a reward-model folder (rm=DIR) and fluency under a scoring LM."""

import threading

import pytest
import torch
from transformers import GPT2Config, GPT2ForSequenceClassification

from core.config import LoraSpec, ModelSpec
from core.errors import RewardError
from core.model.session import ModelSession
from core.rewards import RewardContext, build_reward
from core.rewards.classifier import ClassifierReward
from core.rewards.fluency import FluencyReward

PROMPTS = ["This movie was", "I", "The blender works fine, nothing special but"]
RESPONSES = [" great fun and the acting was wonderful.", " loved the story.", ""]


def save_classifier(folder, tokenizer, num_labels, pad_token_id=True):
    torch.manual_seed(num_labels)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=1,
        n_head=2,
        n_embd=16,
        n_positions=64,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id if pad_token_id else None,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def rm_dirs(tmp_path_factory, tiny_tokenizer):
    root = tmp_path_factory.mktemp("reward-models")
    return {
        labels: save_classifier(root / f"labels{labels}", tiny_tokenizer, labels)
        for labels in (1, 2, 3)
    }


def unbatched_logits(folder, text):
    """The classifier's logits for one text, no padding involved: the value to match."""
    model = GPT2ForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = ClassifierReward(folder, device="cpu").tokenizer
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits[0]


# --- rm=DIR -------------------------------------------------------------------------------


@pytest.mark.parametrize("num_labels", [1, 2])
def test_reward_model_scores_prompt_plus_response_in_batches(rm_dirs, num_labels):
    folder = rm_dirs[num_labels]
    source = build_reward([f"rm={folder}"], RewardContext(device="cpu"))
    assert isinstance(source, ClassifierReward)
    source.batch_size = 2  # 3 texts of different lengths: a padded batch and a single one
    scores = source.score(PROMPTS, RESPONSES)
    expected = []
    for prompt, response in zip(PROMPTS, RESPONSES, strict=True):
        logits = unbatched_logits(folder, prompt + response)
        expected.append(float(logits[0]) if num_labels == 1 else float(logits[1] - logits[0]))
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(scores)) == 3


def test_reward_model_without_pad_token_id_still_batches(tmp_path, tiny_tokenizer):
    folder = save_classifier(tmp_path / "rm", tiny_tokenizer, 1, pad_token_id=False)
    source = ClassifierReward(folder, device="cpu")
    assert source.model.config.pad_token_id == tiny_tokenizer.pad_token_id
    assert len(source.score(PROMPTS, RESPONSES)) == 3


def test_reward_model_runs_without_grad_in_a_grad_enabled_thread(rm_dirs):
    source = ClassifierReward(rm_dirs[1], device="cpu")
    seen = []
    source.model.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    with torch.enable_grad():
        source.score(PROMPTS[:1], RESPONSES[:1])
    assert seen == [False]


def test_closed_reward_model_says_to_rebuild(rm_dirs):
    source = ClassifierReward(rm_dirs[1], device="cpu")
    source.close()
    with pytest.raises(RewardError, match="build the reward again"):
        source.score(["p"], ["r"])


def test_causal_lm_folder_is_not_a_reward_model(tiny_model_dir):
    with pytest.raises(RewardError, match=r"language model \(GPT2LMHeadModel\).*fluency="):
        build_reward([f"rm={tiny_model_dir}"], RewardContext(device="cpu"))


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(RewardError, match="no config.json.*AutoModelForSequenceClassification"):
        ClassifierReward(tmp_path, device="cpu")
    with pytest.raises(RewardError, match="no such folder"):
        ClassifierReward(tmp_path / "missing", device="cpu")


def test_three_label_classifier_is_refused(rm_dirs):
    with pytest.raises(RewardError, match="3 labels.*num_labels=1"):
        ClassifierReward(rm_dirs[3], device="cpu")


def test_folder_without_tokenizer(tmp_path, tiny_tokenizer):
    folder = save_classifier(tmp_path / "rm", tiny_tokenizer, 1)
    for path in folder.iterdir():
        if "token" in path.name:
            path.unlink()
    with pytest.raises(RewardError, match=r"tokenizer\.save_pretrained"):
        ClassifierReward(folder, device="cpu")


# --- fluency ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_session(tiny_model_dir):
    return ModelSession.load(ModelSpec(str(tiny_model_dir), device="cpu", lora=None))


def mean_logprob_by_hand(model, tokenizer, prompt, response):
    """log p(response | prompt) / tokens, one unpadded sequence at a time."""
    context = tokenizer(prompt)["input_ids"]
    tokens = tokenizer(response, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
    ids = torch.tensor([context + tokens])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)  # (T-1, V)
    picked = logp[torch.arange(len(context) - 1, ids.shape[1] - 1), ids[0, len(context) :]]
    return float(picked.mean())


def test_fluency_is_the_mean_response_logprob(base_session):
    source = FluencyReward(base_session, batch_size=2)
    scores = source.score(PROMPTS, RESPONSES)
    expected = [
        mean_logprob_by_hand(base_session.model, base_session.tokenizer, p, r)
        for p, r in zip(PROMPTS, RESPONSES, strict=True)
    ]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert all(score < 0 for score in scores)


def test_fluency_scores_under_the_policy_base_not_the_adapter(tiny_model_dir, base_session):
    policy = ModelSession.load(ModelSpec(str(tiny_model_dir), device="cpu", lora=LoraSpec(r=4)))
    with torch.no_grad():  # a trained-looking adapter: its output differs from the base's
        for name, param in policy.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    adapter_on = mean_logprob_by_hand(policy.model, policy.tokenizer, PROMPTS[0], RESPONSES[0])
    source = build_reward(["fluency"], RewardContext(policy_session=policy))
    policy.model.train()  # as during PPO: scoring must switch dropout off and restore this
    scores = source.score(PROMPTS, RESPONSES)
    assert policy.model.training
    assert scores == pytest.approx(FluencyReward(base_session).score(PROMPTS, RESPONSES), abs=1e-4)
    assert scores[0] != pytest.approx(adapter_on, abs=1e-3)
    assert source.score(PROMPTS, RESPONSES) == scores  # deterministic despite train mode


def test_fluency_runs_without_grad_and_holds_the_lock(base_session):
    source = FluencyReward(base_session)
    seen = []

    def other_thread_can_take_the_lock():
        result = []

        def attempt():
            result.append(base_session.lock.acquire(blocking=False))
            if result[0]:
                base_session.lock.release()

        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
        return result[0]

    def hook(*_):
        seen.append((torch.is_grad_enabled(), other_thread_can_take_the_lock()))

    handle = base_session.model.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            source.score(PROMPTS[:1], RESPONSES[:1])
    finally:
        handle.remove()
    assert seen == [(False, False)]
    assert other_thread_can_take_the_lock()


def test_fluency_with_its_own_model(tiny_model_dir, base_session):
    source = build_reward([f"fluency={tiny_model_dir}"], RewardContext(device="cpu"))
    assert source.session is not base_session
    expected = FluencyReward(base_session).score(PROMPTS, RESPONSES)
    assert source.score(PROMPTS, RESPONSES) == pytest.approx(expected, abs=1e-5)
    source.close()
    assert source.session.model is None


def test_fluency_needs_a_model():
    with pytest.raises(RewardError, match="fluency=MODEL"):
        build_reward(["fluency"], RewardContext())


def test_fluency_trims_to_the_position_limit(base_session):
    # 128 positions: a long prompt keeps only its last tokens before the response.
    tokenizer = base_session.tokenizer
    long_prompt = "the acting was wonderful " * 100
    response = " and fun."
    context = tokenizer(long_prompt)["input_ids"]
    tokens = tokenizer(response, add_special_tokens=False)["input_ids"]
    assert base_session.model.config.n_positions == 128 < len(context)
    kept = tokenizer.decode(context[len(context) - (128 - len(tokens)) :])
    expected = mean_logprob_by_hand(base_session.model, tokenizer, kept, response)
    [score] = FluencyReward(base_session).score([long_prompt], [response])
    assert score == pytest.approx(expected, abs=1e-4)


def test_model_sources_score_an_empty_batch(rm_dirs, base_session):
    assert ClassifierReward(rm_dirs[1], device="cpu").score([], []) == []
    assert FluencyReward(base_session).score([], []) == []
