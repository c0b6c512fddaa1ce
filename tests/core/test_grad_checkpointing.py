"""Gradient checkpointing (core/model/grad_checkpointing.py) for every trainer: the same gradients
and the same steps as without it (PPO with its value head, GRPO, DPO, the reward model),
layers really recomputed in the backward pass, generation still on the KV cache, the
setting on the CLI and kept by checkpoints and resume."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core.cli import build_parser
from core.cli.train_rm import rm_config_from_args
from core.cli.training import config_from_args
from core.config import GenerationConfig, LoraSpec, ModelSpec, PPOConfig, load_json
from core.config.critic_free import GRPOConfig
from core.errors import TrainingError
from core.grpo.trainer import GRPOTrainer
from core.model.backbone import base_model
from core.model.generate import encode_prompts, sample
from core.model.grad_checkpointing import (
    gradient_checkpointing_enabled,
    recomputing_layers,
    set_gradient_checkpointing,
)
from core.model.logprobs import output_layer
from core.model.packing import lane_tokens
from core.model.session import ModelSession
from core.offline.config import DPOConfig
from core.offline.dpo import DPOTrainer
from core.onpolicy.rollout import forward_response
from core.ppo import PPOTrainer
from core.ppo.value_head import ValueHead
from core.reward_model.training import PreferencePair, train_reward_model

PROMPTS = ["I loved", "The movie was", "Terrible", "The blender", "Boring plot"]
PPO_STEP = PPOConfig(
    steps=1, batch_size=4, mini_batch_size=2, ppo_epochs=2, max_new_tokens=6,
    samples_per_step=0, learning_rate=1e-2, seed=1,
)  # fmt: skip
PAIRS = [
    PreferencePair(f"Review {i}:", "I loved the story and the music.", "Boring plot, a waste.")
    for i in range(8)
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class LetterReward:
    name = "letter_e"

    def score(self, prompts, responses):
        return [text.count("e") / max(1, len(text)) for text in responses]


def load(folder) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))


@pytest.fixture(params=["gpt2", "llama"])
def session(request, tiny_model_dirs):
    return load(tiny_model_dirs[request.param])


def _first_layer(model) -> torch.nn.Module:
    """The first decoder layer (the modules transformers checkpoints)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return next(m for m in base_model(model).modules() if isinstance(m, GradientCheckpointingLayer))


def _count_inner_calls(model) -> list[int]:
    """Calls of the first layer's first child: a recomputed layer runs it again in backward."""
    calls = [0]
    child = next(iter(_first_layer(model).children()))
    child.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_switching_on_and_off(session):
    base = base_model(session.model)
    assert not gradient_checkpointing_enabled(session.model)
    set_gradient_checkpointing(session.model, True)
    set_gradient_checkpointing(session.model, True)  # twice: still one input-grad hook
    assert gradient_checkpointing_enabled(session.model) and len(base._require_grads_hooks) == 1
    set_gradient_checkpointing(session.model, False)
    assert not gradient_checkpointing_enabled(session.model)
    assert not getattr(base, "_require_grads_hooks", None)  # the embedding hook is gone


def test_the_same_gradients_with_the_layers_recomputed(session):
    """PPO's forward (log-probs and the value head on the last hidden state), in eval mode
    as the trainers run it: the same LoRA and value-head gradients, with the layers run
    again in the backward pass."""
    config = GenerationConfig(max_new_tokens=6, temperature=0.7)
    queries = encode_prompts(session, PROMPTS, config.max_new_tokens)
    batch = sample(session, queries, config, generator_seed=3, with_logprobs=False)
    torch.manual_seed(0)
    value_head = ValueHead(session.hidden_size)
    torch.nn.init.normal_(value_head.summary.weight)
    calls = _count_inner_calls(session.model)

    def gradients():
        calls[0] = 0
        with recomputing_layers(session.model):
            out = forward_response(session.model, value_head, batch, 0.7)
            (out.logprobs.sum() + (out.values**2).mean()).backward()
        found = {n: p.grad.clone() for n, p in session.model.named_parameters() if p.requires_grad}
        found["value_head"] = value_head.summary.weight.grad.clone()
        session.model.zero_grad(set_to_none=True)
        value_head.zero_grad(set_to_none=True)
        return found, calls[0]

    plain, plain_calls = gradients()
    set_gradient_checkpointing(session.model, True)
    recomputed, recomputed_calls = gradients()
    assert (plain_calls, recomputed_calls) == (1, 2)
    assert not session.model.training and not _first_layer(session.model).training  # restored
    for name, grad in plain.items():
        scale = max(1.0, grad.abs().max().item())
        assert (recomputed[name] - grad).abs().max() <= 1e-5 * scale, name
    assert any(g.abs().sum() > 0 for n, g in plain.items() if "lora_" in n)


def test_no_grad_passes_are_not_recomputed(session):
    """The reference pass and the rollout's scoring run under no_grad: left as they are."""
    set_gradient_checkpointing(session.model, True)
    calls = _count_inner_calls(session.model)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad(), recomputing_layers(session.model), session.reference() as reference:
        reference(input_ids=ids)
    assert calls == [1]


def test_generation_keeps_the_kv_cache(session):
    config = GenerationConfig(max_new_tokens=6, temperature=0.7)
    queries = encode_prompts(session, PROMPTS, config.max_new_tokens)
    plain = sample(session, queries, config, generator_seed=3)
    set_gradient_checkpointing(session.model, True)
    widths: list[int] = []

    def record(_module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        widths.append(hidden.shape[1])

    _first_layer(session.model).register_forward_pre_hook(record, with_kwargs=True)
    with recomputing_layers(session.model):  # even with the layers armed for training
        again = sample(session, queries, config, generator_seed=3, with_logprobs=False)
    assert torch.equal(plain.response_ids, again.response_ids)
    assert widths[0] == plain.query_ids.shape[1] and set(widths[1:]) == {1}  # one new token


def _metrics_close(got: dict, want: dict) -> None:
    for key, value in want.items():
        if not key.startswith("perf/"):
            assert got[key] == pytest.approx(value, abs=1e-5, rel=1e-5), key


def _weights_close(got: dict, want: dict, exact: bool) -> None:
    """Recomputed layers give bit-equal weights. Chunked logits sum in another order:
    ~1e-7 apart in the gradients, which Adam's first steps (g / |g|) make ~1e-5."""
    tolerance = 1e-6 if exact else 1e-4
    assert all(torch.allclose(want[n], got[n], atol=tolerance) for n in want)


def _lora(session) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in session.model.named_parameters() if "lora_" in n}


@pytest.mark.parametrize("logits_chunk_size", [0, 3])
def test_one_ppo_step_with_checkpointing_is_the_plain_step(tiny_model_dir, logits_chunk_size):
    plain = PPOTrainer(load(tiny_model_dir), LetterReward(), PROMPTS, PPO_STEP)
    config = replace(PPO_STEP, gradient_checkpointing=True, logits_chunk_size=logits_chunk_size)
    saving = PPOTrainer(load(tiny_model_dir), LetterReward(), PROMPTS, config)
    assert gradient_checkpointing_enabled(saving.session.model)
    output_layer(saving.session.model)  # its one-time check of the model, before counting
    calls, plain_calls = (_count_inner_calls(t.session.model) for t in (saving, plain))
    _metrics_close(saving.step().metrics, plain.step().metrics)
    assert calls[0] == plain_calls[0] + 2 * 2  # each update forward (2 epochs x 2) once more
    _weights_close(_lora(saving.session), _lora(plain.session), exact=not logits_chunk_size)


def test_one_grpo_step_with_checkpointing_is_the_plain_step(tiny_model_dir):
    config = GRPOConfig(steps=1, batch_size=4, group_size=2, mini_batch_size=2,
                        max_new_tokens=6, samples_per_step=0, seed=1)  # fmt: skip
    plain = GRPOTrainer(load(tiny_model_dir), LetterReward(), PROMPTS, config)
    saving_config = replace(config, gradient_checkpointing=True)
    saving = GRPOTrainer(load(tiny_model_dir), LetterReward(), PROMPTS, saving_config)
    _metrics_close(saving.step().metrics, plain.step().metrics)


def test_one_dpo_step_with_checkpointing_is_the_plain_step(tiny_model_dir):
    config = DPOConfig(steps=1, batch_size=4, micro_batch_size=2, learning_rate=5e-3)
    plain = DPOTrainer(load(tiny_model_dir), None, PAIRS, config)
    saving_config = replace(config, gradient_checkpointing=True, logits_chunk_size=4)
    saving = DPOTrainer(load(tiny_model_dir), None, PAIRS, saving_config)
    for trainer in (saving, plain):  # their one-time checks of the model, before counting
        output_layer(trainer.session.model)
        lane_tokens(trainer.session.model)
    calls, plain_calls = (_count_inner_calls(t.session.model) for t in (saving, plain))
    _metrics_close(saving.step().metrics, plain.step().metrics)
    assert calls[0] == plain_calls[0] + 2  # the 2 micro-batches once more, nothing else
    _weights_close(_lora(saving.session), _lora(plain.session), exact=False)


def test_resume_keeps_the_setting_and_a_run_without_it_turns_it_off(tiny_model_dir, tmp_path):
    config = replace(PPO_STEP, steps=2, checkpoint_every=1, gradient_checkpointing=True)
    first = PPOTrainer(load(tiny_model_dir), LetterReward(), PROMPTS, config, tmp_path)
    first.step()
    folder = first.save_checkpoint()
    assert load_json(PPOConfig, folder / "ppo_config.json").gradient_checkpointing is True
    session = load(tiny_model_dir)
    resumed = PPOTrainer.resume(folder, session, LetterReward(), PROMPTS)
    assert resumed.config.gradient_checkpointing and gradient_checkpointing_enabled(session.model)
    resumed.step()
    PPOTrainer(session, LetterReward(), PROMPTS, PPO_STEP)  # the same session, setting off
    assert not gradient_checkpointing_enabled(session.model)


def test_dpo_resume_keeps_the_setting(tiny_model_dir, tmp_path):
    config = DPOConfig(steps=2, batch_size=4, micro_batch_size=2, gradient_checkpointing=True)
    first = DPOTrainer(load(tiny_model_dir), None, PAIRS, config, tmp_path)
    first.step()
    folder = first.save_checkpoint()
    session = load(tiny_model_dir)
    resumed = DPOTrainer.resume(folder, session, None, PAIRS)
    assert resumed.config.gradient_checkpointing and gradient_checkpointing_enabled(session.model)


def test_a_model_that_cannot_checkpoint_is_refused_in_one_line(tiny_model_dir, monkeypatch):
    session = load(tiny_model_dir)
    monkeypatch.setattr(type(base_model(session.model)), "supports_gradient_checkpointing", False)
    config = replace(PPO_STEP, gradient_checkpointing=True)
    with pytest.raises(TrainingError, match="--no-gradient-checkpointing") as error:
        PPOTrainer(session, LetterReward(), PROMPTS, config)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("command", "config_class"), [("ppo", PPOConfig), ("grpo", GRPOConfig), ("dpo", DPOConfig)]
)
def test_every_training_command_takes_the_flags(command, config_class):
    parser = build_parser()
    for argv, want in (([], False), (["--gradient-checkpointing"], True),
                       (["--no-gradient-checkpointing"], False)):  # fmt: skip
        args = parser.parse_args([command, *argv, "--logits-chunk-size", "16"])
        config = config_from_args(args, config_class)
        assert (config.gradient_checkpointing, config.logits_chunk_size) == (want, 16)


def test_the_reward_model_trains_the_same_with_checkpointing(tiny_model_dir, tmp_path, monkeypatch):
    from core.reward_model import training as reward_model

    args = build_parser().parse_args(["train-rm", "--gradient-checkpointing"])
    assert rm_config_from_args(args).gradient_checkpointing is True
    switched: list[bool] = []
    real = reward_model.set_gradient_checkpointing

    def spy(model, enabled):
        real(model, enabled)
        switched.append(gradient_checkpointing_enabled(model))

    monkeypatch.setattr(reward_model, "set_gradient_checkpointing", spy)
    config = rm_config_from_args(args)
    config = replace(config, base=str(tiny_model_dir), epochs=1, batch_size=4, max_length=32,
                     lora=LoraSpec(r=4, alpha=8))  # fmt: skip
    saving = train_reward_model(PAIRS, config, tmp_path / "a", device="cpu")
    plain_config = replace(config, gradient_checkpointing=False)
    plain = train_reward_model(PAIRS, plain_config, tmp_path / "b", device="cpu")
    assert switched == [True, False]
    assert saving.epochs[0].train_loss == pytest.approx(plain.epochs[0].train_loss, abs=1e-5)
