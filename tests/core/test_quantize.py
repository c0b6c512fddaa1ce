"""--quantize 4bit|8bit (QLoRA through bitsandbytes) on a tiny Llama built here: load,
generate, the adapter-off reference is the quantised base, PPO steps, checkpoint, resume,
export. bitsandbytes comes with the test extra (0.47+ runs on x86 CPUs); the tests that
need it skip, saying why, where it is missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from core.cli import main
from core.config import GenerationConfig, ModelSpec
from core.errors import ModelLoadError
from core.model.quantize import INSTALL_HINT, check_quantize_device, logical_numel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_bnb = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None,
    reason='bitsandbytes is not installed (pip install "rlhf-studio[quant]", part of the '
    "test extra)",
)


def build_quant_llama(path: Path, tokenizer) -> Path:
    """Save a tiny random Llama whose projections fill whole 64-value 4-bit blocks."""
    config = LlamaConfig(
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        hidden_size=64,
        intermediate_size=128,
        max_position_embeddings=128,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    return build_quant_llama(tmp_path_factory.mktemp("quant-llama") / "llama", tiny_tokenizer)


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n", encoding="utf-8")
    return path


def _load(folder: Path, quantize: str, **spec):
    from core.model.session import ModelSession

    return ModelSession.load(
        ModelSpec(name_or_path=str(folder), device="cpu", quantize=quantize, **spec)
    )


# ------------------------------------------------------------ refusals, no bitsandbytes


def test_without_bitsandbytes_4bit_says_how_to_install(
    llama_dir, prompts_file, monkeypatch, capsys, workspace
):
    monkeypatch.setattr("core.model.quantize.bitsandbytes_version", lambda: None)
    with pytest.raises(ModelLoadError, match="bitsandbytes") as raised:
        _load(llama_dir, "4bit")
    assert INSTALL_HINT in str(raised.value) and "\n" not in str(raised.value)
    args = ["generate", "--model", str(llama_dir), "--quantize", "4bit", "--device", "cpu"]
    assert main([*args, "--prompts", str(prompts_file), "--workspace", str(workspace)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "rlhf-studio[quant]"' in err


def test_quantize_needs_cpu_or_cuda(monkeypatch):
    with pytest.raises(ModelLoadError, match="cuda or cpu"):
        check_quantize_device("4bit", torch.device("mps"))
    monkeypatch.setattr("core.model.quantize.bitsandbytes_version", lambda: "0.45.5")
    with pytest.raises(ModelLoadError, match=r"0\.47"):
        check_quantize_device("8bit", torch.device("cpu"))


def test_unknown_quantize_value_is_refused_by_the_cli(workspace, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--quantize", "3bit", "--workspace", str(workspace)])
    assert "invalid choice" in capsys.readouterr().err


# ------------------------------------------------------------------ quantised sessions


@needs_bnb
def test_4bit_session_keeps_adapter_and_other_weights_float32(llama_dir):
    from bitsandbytes.nn import Linear4bit

    from core.model.generate import generate
    from core.model.session import describe

    session = _load(llama_dir, "4bit")
    linear = [m for m in session.model.modules() if isinstance(m, Linear4bit)]
    assert linear and all(m.weight.quant_type == "nf4" for m in linear)
    assert all(m.compute_dtype == torch.float32 for m in linear)  # the CPU's compute dtype
    trainable = [p for p in session.model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    others = [p for p in session.model.parameters() if p.dtype.is_floating_point]
    assert all(p.dtype == torch.float32 for p in others)
    full = AutoModelForCausalLM.from_pretrained(llama_dir)
    base_params = sum(p.numel() for p in full.parameters())
    counts = session.param_counts()
    assert counts.total == base_params + counts.trainable  # 4-bit weights counted unpacked
    info = describe(session)
    assert info["quantize"] == "4bit" and info["dtype"] == "float32"
    completions = generate(session, ["This movie was"], GenerationConfig(max_new_tokens=5, n=2))
    assert len(completions) == 2 and all(c.response_ids for c in completions)


@needs_bnb
def test_reference_is_exactly_the_quantised_base(llama_dir):
    """With the adapter switched off, the policy is the quantised base: the same
    log-probs as the 4-bit base loaded bare."""
    from core.model.generate import sequence_logprobs

    policy = _load(llama_dir, "4bit")
    with torch.no_grad():  # an adapter that changes the outputs
        for name, param in policy.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    bare = _load(llama_dir, "4bit", lora=None)
    ids = torch.tensor([[5, 17, 40, 22, 9, 31, 12], [1, 8, 8, 60, 4, 3, 70]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        with policy.reference() as reference:
            ref = sequence_logprobs(reference, ids, mask, 3, 1.0)
        base = sequence_logprobs(bare.model, ids, mask, 3, 1.0)
        tuned = sequence_logprobs(policy.model, ids, mask, 3, 1.0)
    assert torch.equal(ref, base)
    assert not torch.allclose(tuned, base)


@needs_bnb
def test_4bit_layers_compute_alike_before_and_after_inference_and_saving(llama_dir):
    """On an AVX512-BF16 CPU, bitsandbytes would repack a Linear4bit for its bfloat16
    kernel on the first no-grad eval forward (different numbers, no backward), and a
    state dict (every checkpoint) would unpack it inexactly. The loaded layout stays,
    so a rollout or a save changes nothing. Trivially true on other CPUs."""
    from bitsandbytes.functional import dequantize_4bit
    from bitsandbytes.nn import Linear4bit

    session = _load(llama_dir, "4bit")
    ids = torch.tensor([[5, 17, 40, 22, 9, 31, 12]])
    with torch.no_grad():  # eval mode, as rollouts run
        rollout = session.model(input_ids=ids).logits
        session.model.state_dict()
        again = session.model(input_ids=ids).logits
    assert torch.equal(rollout, again)

    layer = next(m for m in session.model.modules() if isinstance(m, Linear4bit))
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)
    x = torch.randn(3, layer.in_features, requires_grad=True)
    layer(x).sum().backward()  # the gradient reaches the input through the frozen base
    weight = dequantize_4bit(layer.weight.data, layer.weight.quant_state)
    assert x.grad is not None
    torch.testing.assert_close(x.grad, weight.sum(0).expand_as(x))


@needs_bnb
def test_8bit_loads_and_trains_on_the_cpu(llama_dir):
    from bitsandbytes.nn import Linear8bitLt

    session = _load(llama_dir, "8bit")
    assert any(isinstance(m, Linear8bitLt) for m in session.model.modules())
    ids = torch.tensor([[5, 17, 40, 22, 9]])
    session.model.train()
    session.model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for p in session.model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@needs_bnb
def test_the_demo_model_quantises_too(demo_model_dir):
    """Its 128-wide GPT-2 layers (Conv1D, made Linear4bit by transformers) fill whole
    4-bit blocks: --quantize 4bit works on it, to try the path offline."""
    from bitsandbytes.nn import Linear4bit

    from core.model.generate import generate

    session = _load(demo_model_dir, "4bit")
    assert any(isinstance(m, Linear4bit) for m in session.model.modules())
    [completion] = generate(session, ["The movie was"], GenerationConfig(max_new_tokens=6))
    assert completion.response_ids


@needs_bnb
def test_4bit_ppo_trains_the_demo_model_on_the_cpu(demo_model_dir, prompts_file, workspace):
    """The README's promise: `ppo --quantize 4bit` runs on a CPU with the demo model (its
    Conv1D layers once met bitsandbytes' in-place view error in the backward pass)."""
    from core.store import Store

    args = _ppo(demo_model_dir, prompts_file, workspace, "--quantize", "4bit", "--steps", "1")
    assert main(args) == 0
    with Store.open(workspace) as store:
        run = store.run(1)
        assert run.status == "finished" and run.config["model_spec"]["quantize"] == "4bit"
        assert len(store.metrics(1)) == 1


@needs_bnb
def test_a_4bit_gpt2_adapter_works_on_the_16bit_base(demo_model_dir, tmp_path, recwarn):
    """GPT-2's Conv1D layers are Linear4bit on the 4-bit base, so its adapter says
    fan_in_fan_out false; on the 16-bit base (Conv1D) it must act as the same weights."""
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    quantised = _load(demo_model_dir, "4bit")
    with torch.no_grad():
        for name, param in quantised.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)
    quantised.save_adapter(tmp_path / "adapter")
    loaded = _load(demo_model_dir, "none", lora=None, adapter_path=str(tmp_path / "adapter"))
    copied = _load(demo_model_dir, "none")
    set_peft_model_state_dict(copied.model, get_peft_model_state_dict(quantised.model))
    ids = torch.tensor([[5, 17, 40, 22, 9, 31]])
    with torch.no_grad():
        assert torch.equal(loaded.model(input_ids=ids).logits, copied.model(input_ids=ids).logits)
    assert not [w for w in recwarn if "fan_in_fan_out" in str(w.message)]


def test_logical_numel_counts_plain_tensors_as_they_are():
    assert logical_numel(torch.zeros(3, 4)) == 12


# ------------------------------------------------------------- training, resume, export


def _ppo(llama_dir: Path, prompts_file: Path, workspace: Path, *extra: str) -> list[str]:
    return ["ppo", "--model", str(llama_dir), "--device", "cpu", "--prompts",
            str(prompts_file), "--reward", "length=4", "--batch-size", "4",
            "--mini-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "6",
            "--workspace", str(workspace), *extra]  # fmt: skip


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_bnb
def test_4bit_ppo_checkpoints_resumes_and_exports(
    llama_dir, prompts_file, workspace, tmp_path, capsys
):
    from core.store import Store

    first = tmp_path / "first.jsonl"
    args = _ppo(llama_dir, prompts_file, workspace, "--quantize", "4bit", "--steps", "2")
    assert main([*args, "--checkpoint-every", "1", "--metrics-out", str(first)]) == 0
    run_dir = workspace / "checkpoints" / "run-1"
    meta = json.loads((run_dir / "step-1" / "meta.json").read_text(encoding="utf-8"))
    assert meta["quantize"] == "4bit"
    with Store.open(workspace) as store:
        assert store.run(1).config["model_spec"]["quantize"] == "4bit"
    capsys.readouterr()

    # Resume without --quantize: the checkpoint's 4-bit base, and the same step 2.
    second = tmp_path / "second.jsonl"
    resume = _ppo(llama_dir, prompts_file, workspace, "--steps", "2")
    assert main([*resume, "--resume", str(run_dir / "step-1"), "--metrics-out", str(second)]) == 0
    assert "--quantize 4bit" in capsys.readouterr().out
    again, before = _jsonl(second)[-1], _jsonl(first)[-1]
    for key in ("reward/mean", "loss/policy", "objective/kl"):
        assert again[key] == pytest.approx(before[key], rel=1e-5, abs=1e-7), key

    # Another mode is refused before the model loads, in one line.
    assert main([*resume, "--quantize", "none", "--resume", str(run_dir / "step-1")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--quantize 4bit" in err

    # The adapter exports as it is; merging reloads the base unquantised.
    step = ["--checkpoint", str(run_dir / "step-2"), "--workspace", str(workspace)]
    assert main(["export", "--format", "adapter", "--out", str(tmp_path / "a"), *step]) == 0
    assert (tmp_path / "a" / "adapter_config.json").is_file()
    merged = ["--model", str(llama_dir), *step]
    assert main(["export", "--format", "merged", "--out", str(tmp_path / "m"), *merged]) == 0
    assert "merged into the unquantised base" in capsys.readouterr().err
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert all(p.dtype == torch.float32 for p in model.parameters())


@needs_bnb
def test_offline_run_records_and_follows_its_quantised_base(llama_dir, workspace, tmp_path, capsys):
    demos = tmp_path / "demos.jsonl"
    rows = (json.dumps({"prompt": f"P{i}", "response": "Lovely."}) for i in range(6))
    demos.write_text("\n".join(rows) + "\n", encoding="utf-8")
    common = ["sft", "--model", str(llama_dir), "--device", "cpu", "--data", str(demos),
              "--batch-size", "2", "--workspace", str(workspace)]  # fmt: skip
    assert main([*common, "--quantize", "4bit", "--steps", "1"]) == 0
    step = Path(capsys.readouterr().out.strip().splitlines()[-1]).parent
    assert json.loads((step / "meta.json").read_text(encoding="utf-8"))["quantize"] == "4bit"
    assert main([*common, "--steps", "2", "--resume", str(step)]) == 0
    assert "--quantize 4bit" in capsys.readouterr().out
    assert main([*common, "--quantize", "8bit", "--steps", "2", "--resume", str(step)]) == 2
    assert "quantize 4bit" in capsys.readouterr().err


# ------------------------------------------------------------------- on a CUDA device


@pytest.mark.gpu
@needs_bnb
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("quantize", ["4bit", "8bit"])
def test_quantised_base_on_cuda_generates_trains_and_keeps_its_reference(llama_dir, quantize):
    from core.model.generate import generate, sequence_logprobs
    from core.model.session import ModelSession

    def load(**spec):
        return ModelSession.load(
            ModelSpec(name_or_path=str(llama_dir), device="cuda", quantize=quantize, **spec)
        )

    policy = load()
    assert all(p.device.type == "cuda" for p in policy.model.parameters())
    if quantize == "4bit" and torch.cuda.is_bf16_supported():
        assert policy.dtype == torch.bfloat16  # the compute dtype; the adapter stays float32
    assert all(p.dtype == torch.float32 for p in policy.model.parameters() if p.requires_grad)
    assert generate(policy, ["This movie was"], GenerationConfig(max_new_tokens=4))
    ids = torch.tensor([[5, 17, 40, 22, 9, 31]], device="cuda")
    policy.model.train()
    policy.model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for p in policy.model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    policy.model.eval()
    bare = load(lora=None)
    mask = torch.ones_like(ids)
    with torch.no_grad(), policy.reference() as reference:
        ref = sequence_logprobs(reference, ids, mask, 2, 1.0)
        assert torch.equal(ref, sequence_logprobs(bare.model, ids, mask, 2, 1.0))


def test_the_memory_plan_counts_quantised_weights_at_their_stored_size():
    from core.config import PPOConfig
    from core.memory_plan import plan_memory, request_for_config
    from core.model.shapes import known_shape

    shape = known_shape("random:smollm2-360m")
    plans = {
        mode: plan_memory(
            shape, request_for_config("ppo", PPOConfig(), 16, "bfloat16", "cuda", quantize=mode)
        )
        for mode in ("none", "8bit", "4bit")
    }
    assert plans["4bit"].weights < plans["8bit"].weights < plans["none"].weights
    # Projections shrink to 0.5625 bytes a weight; embeddings and norms stay 16-bit.
    assert plans["4bit"].weights < 0.4 * plans["none"].weights
    assert plans["4bit"].activations == plans["none"].activations  # computed in bfloat16
