"""The memory planner (core.memory_plan, core.model.shapes): shapes, terms, verdicts, the
per-layer activation count against autograd's saved tensors, and the `plan` command.
The check against measured peaks is tests/core/test_memory_measured.py."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from core.memory_plan import (
    PlanError,
    PlanRequest,
    layer_activation_elements,
    plan_memory,
    session_memory_line,
    weight_bytes,
)
from core.model.shapes import KNOWN_SHAPES, ShapeError, shape_from_config, shape_of

QWEN = KNOWN_SHAPES["qwen2.5-0.5b"]
BASE = PlanRequest(batch_size=8, mini_batch_size=8, prompt_tokens=16, response_tokens=64)


@pytest.mark.parametrize(
    "name, params",
    [("gpt2-small", 124_439_808), ("qwen2.5-0.5b", 494_032_768), ("qwen2.5-7b", 7_615_616_512)],
)
def test_known_shapes_count_the_published_parameters(name, params):
    assert KNOWN_SHAPES[name].params == params
    assert shape_of(f"random:{name}") == KNOWN_SHAPES[name]


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_shape_from_a_model_folder_counts_its_parameters(tiny_model_dirs, family):
    from core.config import ModelSpec
    from core.model.session import ModelSession, describe

    folder = tiny_model_dirs[family]
    session = ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu", lora=None))
    shape = shape_of(str(folder))
    if family != "gpt_neox":  # NeoX lays out its weights otherwise: layers and widths only
        assert shape.params == session.param_counts().total
    assert describe(session)["shape"]["hidden"] == shape.hidden == session.hidden_size


def test_unknown_models_and_settings_fail_with_a_fix(tmp_path):
    with pytest.raises(ShapeError, match="known shape"):
        shape_of(str(tmp_path / "nowhere"))
    with pytest.raises(ShapeError, match="lacks a size"):
        shape_from_config({"model_type": "llama", "hidden_size": 64})
    with pytest.raises(PlanError, match="algorithm 'a2c'.*batch_size must be at least 1"):
        plan_memory(QWEN, replace(BASE, algorithm="a2c", batch_size=0))


def test_terms_follow_the_settings():
    plan = plan_memory(QWEN, BASE)
    assert plan.weights == QWEN.params * 4
    phase = max(plan.phases.values())
    assert plan.peak == plan.weights + plan.lora_and_optimizer + phase + plan.allocator_slack
    on_gpu = plan_memory(QWEN, replace(BASE, device="cuda"))
    assert on_gpu.allocator_slack == 0 < plan.allocator_slack  # glibc's heap, CPU only
    bigger = plan_memory(QWEN, replace(BASE, mini_batch_size=16, batch_size=16))
    assert bigger.activations == pytest.approx(2 * plan.activations, rel=0.01)
    assert bigger.generation_cache > plan.generation_cache
    rank = plan_memory(QWEN, replace(BASE, lora_r=32)).lora_and_optimizer
    assert rank == pytest.approx(2 * plan.lora_and_optimizer, rel=0.01)
    checkpointed = plan_memory(QWEN, replace(BASE, gradient_checkpointing=True))
    assert checkpointed.activations < plan.activations / 5
    chunked = plan_memory(QWEN, replace(BASE, logits_chunk_size=16))  # 16 of 65 positions
    assert chunked.logits == pytest.approx(plan.logits * 16 / 65, rel=0.01)


def test_quantisation_and_precision_shrink_the_weights():
    full, half = weight_bytes(QWEN, "float32"), weight_bytes(QWEN, "bfloat16")
    eight, four = weight_bytes(QWEN, "bfloat16", "8bit"), weight_bytes(QWEN, "bfloat16", "4bit")
    assert full == 2 * half > half > eight > four
    embeddings = QWEN.embedding_params * 2  # stay 16-bit: a floor under 4-bit
    assert four > embeddings


def test_algorithms_differ_where_their_code_does():
    ppo = plan_memory(QWEN, BASE)
    grpo = plan_memory(QWEN, replace(BASE, algorithm="grpo", batch_size=64))
    dpo = plan_memory(QWEN, replace(BASE, algorithm="dpo"))
    sft = plan_memory(QWEN, replace(BASE, algorithm="sft"))
    assert ppo.lora_and_optimizer - grpo.lora_and_optimizer == (QWEN.hidden + 1) * 16
    assert grpo.peak_phase == "scoring"  # 64 rows of no-grad logits at once
    assert dpo.generation_cache == sft.generation_cache == 0
    assert dpo.activations == pytest.approx(2 * sft.activations, rel=0.01)  # chosen + rejected


def test_verdicts_say_yes_or_what_is_needed():
    plan = plan_memory(QWEN, BASE)
    assert plan.verdict(12 * 2**30, "12 GiB").startswith("fits in 12 GiB: yes, ")
    assert plan.verdict(2**30).startswith("fits in 1 GiB: no, needs ")
    assert plan.needed > plan.peak  # the runtime outside the peak


def _saved_elements_per_token(config, lora_r: int, tokens: tuple[int, int]) -> float:
    """Elements autograd saves per token, parameters excluded, for one forward pass."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.config import LoraSpec
    from core.model.logprobs import response_token_logprobs
    from core.model.lora import attach_lora

    torch.manual_seed(0)
    model = attach_lora(AutoModelForCausalLM.from_config(config), LoraSpec(r=lora_r)).eval()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    rows, length = tokens
    ids = torch.randint(0, config.vocab_size, (rows, length))
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        response_token_logprobs(model, ids, torch.ones_like(ids), length // 2, 1.0)
    return sum(storages.values()) / 4 / (rows * length)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_per_layer_activations_are_what_autograd_saves(family):
    """The planner's per-token, per-layer count is the saved tensors of one more layer."""
    from transformers import GPT2Config, LlamaConfig

    from core.model.shapes import ModelShape

    def config(layers):
        if family == "gpt2":
            return GPT2Config(vocab_size=300, n_embd=64, n_layer=layers, n_head=4, n_positions=64)
        return LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=160,
                           num_hidden_layers=layers, num_attention_heads=4,
                           num_key_value_heads=2)  # fmt: skip

    one, two = (_saved_elements_per_token(config(n), 4, (2, 24)) for n in (1, 2))
    shape = (
        ModelShape("gpt2", 1, 64, 256, 4, 4, 300)
        if family == "gpt2"
        else ModelShape("llama", 1, 64, 160, 4, 2, 300)
    )
    assert two - one == pytest.approx(layer_activation_elements(shape, 4), rel=0.03)


def test_session_memory_line_describes_the_loaded_model(tiny_model_dir):
    from core.config import ModelSpec, PPOConfig
    from core.model.session import ModelSession

    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    line = session_memory_line(session, PPOConfig())
    assert line.startswith("memory estimate (planner") and "on cpu" in line
    assert "weights" in line and "MiB" in line


def test_plan_command_prints_the_terms_and_verdicts(capsys):
    from core.cli import main

    args = ["plan", "--model", "random:qwen2.5-0.5b", "--device", "cpu", "--batch-size", "8",
            "--mini-batch-size", "8", "--max-new-tokens", "64", "--budget-gib", "12"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    for term in ("weights", "LoRA + optimiser", "activations", "logits", "generation cache"):
        assert term in out
    assert "fits in 12 GiB: yes" in out and "on a GPU in bfloat16" in out
    assert main([*args, "--algorithm", "dpo", "--gradient-checkpointing"]) == 0
    assert "checkpointing on, logits chunk off" in capsys.readouterr().out
    assert main([*args, "--logits-chunk-size", "16"]) == 0
    assert "logits chunk 16" in capsys.readouterr().out


def test_plan_command_refuses_an_unknown_model_in_one_line(capsys, tmp_path):
    from core.cli import main

    assert main(["plan", "--model", str(tmp_path / "missing"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: No config.json")


def test_planner_imports_without_torch():
    import subprocess

    code = (
        "import sys, core.memory_plan, core.model.shapes\n"
        "core.memory_plan.plan_memory(core.model.shapes.shape_of('qwen2.5-7b'),"
        " core.memory_plan.PlanRequest())\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_demo_models_shape_is_read_without_torch_or_transformers(demo_model_dir):
    """The Model page reads it in a worker while the app's warm-up imports transformers:
    a second import of it from that worker failed ('cannot import name ...')."""
    probe = (
        "import sys; from core.model.shapes import shape_of; shape = shape_of('demo'); "
        "print(shape.params, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    params, torch_loaded, transformers_loaded = done.stdout.split()
    assert int(params) > 0
    assert (torch_loaded, transformers_loaded) == ("False", "False")
