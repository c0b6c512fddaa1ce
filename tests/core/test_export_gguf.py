"""Merged exports keep the base's dtype; `export --format gguf|ollama` write a GGUF that
transformers loads back with the merged model's logits, and an Ollama Modelfile."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma2Config,
    GPT2Config,
    LlamaConfig,
    Qwen2Config,
)

from core.cli import main
from core.config import ModelSpec
from core.export.ollama import role_wrappers
from core.model.session import ModelSession

pytest.importorskip("gguf")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDS = torch.tensor([[1, 5, 9, 14, 30, 41, 7]])


def _config(family: str, tokenizer):
    common = dict(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if family == "gpt2":  # GPT-2 GGUF readers take the position table's size as 1024
        return GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=1024, **common)
    shape = dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 hidden_size=32, intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    if family == "llama":
        return LlamaConfig(**shape, **common)
    if family == "gemma2":
        return Gemma2Config(**shape, head_dim=8, sliding_window=64, **common)
    return Qwen2Config(**shape, tie_word_embeddings=False, **common)


def _build(root: Path, family: str, tokenizer, dtype: torch.dtype) -> tuple[Path, Path]:
    """(model folder saved in `dtype`, a trained-looking adapter for it)."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(_config(family, tokenizer)).to(dtype)
    folder = root / family
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    session = ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in session.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    session.save_adapter(root / f"{family}-adapter")
    return folder, root / f"{family}-adapter"


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_tokenizer):
    """{family: (model folder, adapter)}: Llama stored in bfloat16 with a ChatML template,
    Qwen2, GPT-2 and Gemma 2 in float32."""
    root = tmp_path_factory.mktemp("gguf-models")
    chat_tokenizer = AutoTokenizer.from_pretrained(_save_tokenizer(root, tiny_tokenizer))
    chat_tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    chat_tokenizer.chat_template = CHATML
    return {
        "llama": _build(root, "llama", chat_tokenizer, torch.bfloat16),
        "qwen2": _build(root, "qwen2", tiny_tokenizer, torch.float32),
        "gpt2": _build(root, "gpt2", tiny_tokenizer, torch.float32),
        "gemma2": _build(root, "gemma2", tiny_tokenizer, torch.float32),
    }


def _save_tokenizer(root: Path, tokenizer) -> Path:
    tokenizer.save_pretrained(root / "tokenizer")
    return root / "tokenizer"


def _export(fmt: str, model: Path, adapter: Path, out: Path, *extra: str) -> int:
    args = ["export", "--format", fmt, "--model", str(model), "--checkpoint", str(adapter)]
    return main([*args, "--out", str(out), *extra])


def _logits(folder: Path, **kwargs) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs).eval()
    with torch.no_grad():
        return model(IDS).logits


def _weights_dtype(folder: Path) -> str:
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        return str(handle.get_tensor(next(iter(handle.keys()))).dtype)


def test_merged_export_keeps_the_bases_dtype(models, tmp_path):
    model, adapter = models["llama"]
    assert _export("merged", model, adapter, tmp_path / "auto") == 0
    assert json.loads((tmp_path / "auto/config.json").read_text())["dtype"] == "bfloat16"
    assert _weights_dtype(tmp_path / "auto") == "torch.bfloat16"
    for dtype in ("float32", "float16"):
        assert _export("merged", model, adapter, tmp_path / dtype, "--dtype", dtype) == 0
        assert _weights_dtype(tmp_path / dtype) == f"torch.{dtype}"
    wide, half = _logits(tmp_path / "float32"), _logits(tmp_path / "auto")
    assert torch.allclose(wide, half, atol=0.05)  # the same model, rounded to bfloat16


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "gemma2"])
def test_gguf_reproduces_the_merged_models_logits(family, models, tmp_path):
    model, adapter = models[family]
    assert _export("merged", model, adapter, tmp_path / "merged") == 0  # the base's dtype
    assert _export("gguf", model, adapter, tmp_path / "model.gguf") == 0
    merged = _logits(tmp_path / "merged")
    loaded = _logits(tmp_path, gguf_file="model.gguf")
    assert (loaded - merged).abs().max() < 2e-3  # float16 rounding of the weights
    if family == "gpt2":  # tied, yet written as llama.cpp's converter writes it
        import gguf

        names = {t.name for t in gguf.GGUFReader(tmp_path / "model.gguf").tensors}
        assert "output.weight" in names
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file="model.gguf")
    text = "The hotel was great, 123 stars!"
    assert tokenizer(text)["input_ids"] == AutoTokenizer.from_pretrained(model)(text)["input_ids"]


@pytest.mark.parametrize(("kind", "tolerance"), [("bf16", 2e-2), ("q8_0", 2e-2)])
def test_other_gguf_types_load_close_to_the_merged_model(kind, tolerance, models, tmp_path):
    import gguf

    model, adapter = models["llama"]
    assert _export("merged", model, adapter, tmp_path / "merged") == 0
    assert _export("gguf", model, adapter, tmp_path / "m.gguf", "--gguf-type", kind) == 0
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == kind.upper()
    assert types["blk.0.attn_norm.weight"] == "F32"
    merged = _logits(tmp_path / "merged")
    assert (_logits(tmp_path, gguf_file="m.gguf") - merged).abs().max() < tolerance


def test_gguf_carries_the_tokenizer_and_chat_template(models, tmp_path):
    import gguf

    model, adapter = models["llama"]
    assert _export("gguf", model, adapter, tmp_path / "m.gguf") == 0
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    field = reader.fields["tokenizer.chat_template"]
    assert field.contents() == CHATML
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    assert types[tokens.index("<|im_end|>")] == 3  # control: matched whole, never split


def test_ollama_folder_has_the_gguf_and_a_modelfile(models, tmp_path):
    model, adapter = models["llama"]
    assert _export("ollama", model, adapter, tmp_path / "ollama") == 0
    assert (tmp_path / "ollama/model.gguf").read_bytes()[:4] == b"GGUF"
    text = (tmp_path / "ollama/Modelfile").read_text()
    assert text.startswith("FROM ./model.gguf\n")
    assert 'TEMPLATE """' in text and "<|im_start|>assistant\n" in text
    assert "{{ .Content }}<|im_end|>\n" in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "PARAMETER temperature" in text


def _render_like_ollama(wrappers, messages):
    """What the Modelfile's Go template renders, in Python."""
    out = []
    for index, (role, content) in enumerate(messages):
        last = index == len(messages) - 1
        pre, post = getattr(wrappers, role) if role != "system" else wrappers.system
        if role == "assistant" and last:
            post = ""
        out.append(pre + content + post + (wrappers.generation if role == "user" and last else ""))
    return "".join(out)


def test_converted_template_renders_as_the_chat_template(models):
    tokenizer = AutoTokenizer.from_pretrained(models["llama"][0])
    wrappers = role_wrappers(tokenizer)
    messages = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")]
    chat = [{"role": r, "content": c} for r, c in messages]
    expected = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert _render_like_ollama(wrappers, messages) == expected


def test_plain_model_gets_a_prompt_template(models, tmp_path):
    model, adapter = models["gpt2"]
    assert _export("ollama", model, adapter, tmp_path / "o") == 0
    assert 'TEMPLATE """{{ .Prompt }}"""' in (tmp_path / "o/Modelfile").read_text()


def test_unsupported_architecture_is_refused_in_one_line(tiny_model_dirs, tmp_path, capsys):
    neox = tiny_model_dirs["gpt_neox"]
    assert _export("gguf", neox, tmp_path, tmp_path / "x.gguf") == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write a 'gpt_neox' model" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.gguf").exists()


def test_without_the_gguf_package_it_says_how_to_install(models, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gguf", None)
    model, adapter = models["llama"]
    assert _export("gguf", model, adapter, tmp_path / "m.gguf") == 2
    assert 'pip install "rlhf-studio[gguf]"' in capsys.readouterr().err


def test_llama_cpp_generates_greedily_like_transformers(models, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    model, adapter = models["llama"]
    assert _export("gguf", model, adapter, tmp_path / "m.gguf") == 0
    assert _export("merged", model, adapter, tmp_path / "merged", "--dtype", "float32") == 0
    prompt = [5, 9, 14]
    runner = llama_cpp.Llama(str(tmp_path / "m.gguf"), n_ctx=64, verbose=False)
    ours = []
    for token in runner.generate(prompt, temp=0.0, top_k=1):
        ours.append(token)
        if len(ours) == 5:
            break
    reference = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        greedy = reference.generate(torch.tensor([prompt]), max_new_tokens=5, do_sample=False)
    assert ours == greedy[0, len(prompt) :].tolist()
