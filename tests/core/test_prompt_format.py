"""Prompt formats: plain text, or each prompt as a user message in the tokenizer's chat
template (instruction-tuned policies). Every path that feeds prompts to the policy agrees."""

import shutil

import pytest
import torch
from transformers import AutoTokenizer

from core.cli import main
from core.config import GenerationConfig, ModelSpec, PPOConfig
from core.data.prompt_format import prompt_token_ids
from core.errors import ModelLoadError, TrainingError
from core.model.generate import encode_prompts, generate
from core.model.session import ModelSession, describe
from core.ppo.trainer import PPOTrainer
from core.rewards import RewardContext, build_reward
from core.store import Store


def load(path, prompt_format="plain", **overrides) -> ModelSession:
    spec = ModelSpec(str(path), device="cpu", prompt_format=prompt_format, **overrides)
    return ModelSession.load(spec)


def test_chat_format_wraps_the_prompt_as_a_user_turn_with_one_bos(chat_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(chat_model_dir)
    bos = tokenizer.bos_token_id
    plain = prompt_token_ids(tokenizer, "This movie was", "plain")
    chat = prompt_token_ids(tokenizer, "This movie was", "chat")
    assert plain[0] == bos and tokenizer.decode(plain[1:]) == "This movie was"
    assert chat[0] == bos and chat[1] != bos  # the template's BOS, not a second one
    assert tokenizer.decode(chat[1:]) == "user: This movie was\nassistant:"


def test_chat_format_needs_a_chat_template(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="no chat template.*--prompt-format plain"):
        load(tiny_model_dir, "chat")
    with pytest.raises(ModelLoadError, match="Unknown prompt format 'xml'"):
        load(tiny_model_dir, "xml")


def test_a_chat_template_that_cannot_render_fails_at_load(chat_model_dir, tmp_path):
    broken = tmp_path / "broken-template"
    shutil.copytree(chat_model_dir, broken)
    tokenizer = AutoTokenizer.from_pretrained(broken)
    tokenizer.chat_template = "{{ raise_exception('Only system and assistant roles') }}"
    tokenizer.save_pretrained(broken)
    with pytest.raises(ModelLoadError, match="cannot render a user message.*Only system"):
        load(broken, "chat")
    assert load(broken, "plain").prompt_format == "plain"  # plain needs no template


def test_a_chat_session_generates_from_the_template_and_keeps_prompts_plain(chat_model_dir):
    session = load(chat_model_dir, "chat")
    info = describe(session)
    assert info["prompt_format"] == "chat" and info["has_chat_template"]
    [ids] = encode_prompts(session, ["The hotel"], max_new_tokens=4)
    assert ids == prompt_token_ids(session.tokenizer, "The hotel", "chat")
    config = GenerationConfig(max_new_tokens=4, seed=3)
    [completion] = generate(session, ["The hotel"], config)
    assert completion.prompt == "The hotel" and completion.prompt_ids == ids
    # The same model in plain format continues other ids, so it samples from another context.
    plain = load(chat_model_dir, "plain")
    assert describe(plain)["prompt_format"] == "plain"
    [plain_ids] = encode_prompts(plain, ["The hotel"], max_new_tokens=4)
    assert plain_ids != ids


def test_fluency_scores_the_response_in_the_context_the_policy_saw(chat_model_dir):
    chat = load(chat_model_dir, "chat", lora=None)
    plain = load(chat_model_dir, "plain", lora=None)
    prompts, responses = ["The hotel"], [" was great"]
    chat_score = build_reward(["fluency"], RewardContext(policy_session=chat))
    plain_score = build_reward(["fluency"], RewardContext(policy_session=plain))
    by_hand = _mean_logprob(chat, prompt_token_ids(chat.tokenizer, "The hotel", "chat"))
    assert chat_score.score(prompts, responses) == pytest.approx([by_hand], abs=1e-4)
    assert plain_score.score(prompts, responses) != pytest.approx([by_hand], abs=1e-4)


def _mean_logprob(session, context):
    tokens = session.tokenizer(" was great", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + tokens])
    with torch.no_grad():
        logp = torch.log_softmax(session.model(ids).logits[0, :-1].float(), -1)
    return float(logp[torch.arange(len(context) - 1, ids.shape[1] - 1), tokens].mean())


def test_resume_refuses_another_prompt_format_and_the_cli_adopts_the_runs(
    chat_model_dir, tmp_path, workspace, capsys
):
    session = load(chat_model_dir, "chat")
    reward = build_reward(["length=4"], RewardContext())
    config = PPOConfig(steps=1, batch_size=2, mini_batch_size=2, ppo_epochs=1, max_new_tokens=4)
    trainer = PPOTrainer(
        session, reward, ["The hotel", "My phone"], config, checkpoint_dir=tmp_path
    )
    list(trainer)
    checkpoint = trainer.save_checkpoint()

    plain = load(chat_model_dir, "plain")
    with pytest.raises(TrainingError, match="trained with the chat prompt format.*chat"):
        PPOTrainer.resume(checkpoint, plain, reward, ["The hotel", "My phone"])

    # The CLI resumes in the run's prompt format unless told otherwise.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The hotel\nMy phone\n", encoding="utf-8")
    args = ["ppo", "--model", str(chat_model_dir), "--device", "cpu", "--reward", "length=4"]
    args += ["--prompts", str(prompts)]
    args += ["--steps", "2", "--batch-size", "2", "--mini-batch-size", "2", "--ppo-epochs", "1"]
    args += ["--max-new-tokens", "4", "--workspace", str(workspace), "--resume", str(checkpoint)]
    assert main(args) == 0
    assert "resuming with the run's prompt format: --prompt-format chat" in capsys.readouterr().out
    assert main([*args, "--prompt-format", "plain"]) == 2
    assert "trained with the chat prompt format" in capsys.readouterr().err
    with Store.open(workspace) as store:
        [run] = store.runs("ppo")
        assert [m["step"] for m in store.metrics(run.id)] == [2]


def test_cli_generate_in_chat_format_and_its_one_line_error(chat_model_dir, tiny_model_dir, capsys):
    prompts = chat_model_dir.parent / "prompts.txt"
    prompts.write_text("The hotel\n", encoding="utf-8")
    args = ["generate", "--prompts", str(prompts), "--device", "cpu", "--max-new-tokens", "3"]
    assert main([*args, "--model", str(chat_model_dir), "--prompt-format", "chat"]) == 0
    output = capsys.readouterr()
    assert "The hotel" in output.out and "chat template" not in output.err
    assert main([*args, "--model", str(chat_model_dir)]) == 0  # plain: a hint, no error
    assert "has a chat template; if the model is instruction-tuned" in capsys.readouterr().err
    assert main([*args, "--model", str(tiny_model_dir), "--prompt-format", "chat"]) == 2
    error = capsys.readouterr().err.strip()
    assert "no chat template" in error and len(error.splitlines()) == 1
