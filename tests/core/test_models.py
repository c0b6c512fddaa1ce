"""core.model.session / core.model.lora: loading, bad folders, LoRA targets, reference model, adapters."""

import gc
import json
import shutil
import weakref
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
)

import core.demo
from core.config import GenerationConfig, LoraSpec, ModelSpec
from core.errors import ModelLoadError
from core.model.generate import generate
from core.model.session import (
    ModelSession,
    describe,
    lora_targets,
    pick_device,
    pick_dtype,
    resolve_model_path,
)

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
EXPECTED_TARGETS = {
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "llama": LLAMA_TARGETS,
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


def load(path, **overrides) -> ModelSession:
    return ModelSession.load(ModelSpec(name_or_path=str(path), device="cpu", **overrides))


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_config(folder: Path, **changes) -> None:
    config_path = folder / "config.json"
    data = json.loads(config_path.read_text())
    data.update(changes)
    config_path.write_text(json.dumps(data))


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def train_lora_a_bit(session: ModelSession, ids: torch.Tensor) -> None:
    """A few Adam steps on next-token loss: moves lora_B away from its zero init."""
    trainable = [p for p in session.model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=0.05)
    for _ in range(3):
        loss = session.model(input_ids=ids, labels=ids).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])


# --- loading each family -------------------------------------------------------------


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_loads_each_family_with_lora(tiny_model_dirs, family):
    session = load(tiny_model_dirs[family])
    counts = session.param_counts()
    assert isinstance(session.model, PeftModel) and session.has_adapter
    assert 0 < counts.trainable < counts.total
    assert session.architecture == family
    assert session.hidden_size == 32
    assert session.device == torch.device("cpu") and session.dtype == torch.float32
    assert not any(module.training for module in session.model.modules())  # dropout off
    assert sorted(session.model.peft_config["default"].target_modules) == sorted(
        EXPECTED_TARGETS[family]
    )
    # Only LoRA matrices train; the base stays frozen.
    names = [n for n, p in session.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    info = describe(session)
    assert info["architecture"] == family and info["params"] == counts.total
    assert info["trainable"] == counts.trainable and info["dtype"] == "float32"
    assert info["memory"]["process_rss_bytes"] > 0


def test_tokenizer_pads_left(tiny_model_dir):
    session = load(tiny_model_dir)
    assert session.tokenizer.padding_side == "left"
    assert session.tokenizer.pad_token_id is not None
    batch = session.tokenizer(["a b c d e", "a"], padding=True)
    assert batch["attention_mask"][1][0] == 0 and batch["attention_mask"][1][-1] == 1


def test_padless_tokenizer_gets_eos_as_pad(tmp_path, tiny_model_dir, tiny_tokenizer):
    folder = copy_model(tiny_model_dir, tmp_path / "padless")
    tokenizer = tiny_tokenizer.__class__.from_pretrained(tiny_model_dir)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token_id is None
    session = load(folder)
    assert session.tokenizer.pad_token_id == session.tokenizer.eos_token_id
    assert session.tokenizer.padding_side == "left"
    # The embedding table keeps its size: no token was added.
    assert session.model.get_input_embeddings().num_embeddings == len(tiny_tokenizer)


def test_bare_model_without_lora(tiny_model_dir):
    session = load(tiny_model_dir, lora=None)
    assert not session.has_adapter and not isinstance(session.model, PeftModel)
    with session.reference() as reference:
        assert reference is session.model
    with pytest.raises(ModelLoadError, match="no LoRA adapter"):
        session.save_adapter(Path("unused"))


def test_bfloat16_on_cpu(tiny_model_dir):
    session = load(tiny_model_dir, dtype="bfloat16")
    assert session.dtype == torch.bfloat16
    assert session.model.get_input_embeddings().weight.dtype == torch.bfloat16


def test_demo_name_resolves_through_ensure_demo_model(monkeypatch, tiny_model_dir):
    calls = []

    def fake_demo(progress=None):
        calls.append(progress)
        return tiny_model_dir

    monkeypatch.setattr(core.demo, "ensure_demo_model", fake_demo, raising=False)
    assert resolve_model_path("demo") == str(tiny_model_dir)
    assert resolve_model_path("some/other") == "some/other"
    session = ModelSession.load(ModelSpec(name_or_path="demo", device="cpu"))
    assert session.name == "demo" and session.architecture == "gpt2"
    assert len(calls) == 2


def test_real_demo_model_loads():
    # Building the demo takes minutes; its own tests build it. Here we only load a built one.
    if not getattr(core.demo, "is_demo_model_built", lambda: False)():
        pytest.skip("the demo model is not built yet (tests/core/test_demo*.py build it)")
    folder = Path(resolve_model_path("demo"))
    assert (folder / "config.json").is_file()
    session = ModelSession.load(ModelSpec(name_or_path="demo", device="cpu"))
    assert session.name == "demo" and session.param_counts().trainable > 0
    completions = generate(session, ["The movie was"], GenerationConfig(max_new_tokens=8))
    assert completions[0].response_ids


def test_built_in_model_type_with_auto_map_loads_with_built_in_code(tmp_path, tiny_model_dir):
    # Documented choice: custom code is refused only where it would actually run.
    folder = copy_model(tiny_model_dir, tmp_path / "mapped")
    edit_config(folder, auto_map={"AutoModelForCausalLM": "modeling_mine.MyGPT2"})
    session = load(folder)
    assert session.architecture == "gpt2"


# --- devices and dtypes --------------------------------------------------------------


def test_pick_device_and_dtype():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ModelLoadError, match="choose auto, cpu, cuda or mps"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            pick_device("cuda")
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("float32", "cpu") == torch.float32
    assert pick_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="float16 is not supported on the CPU"):
        pick_dtype("float16", "cpu")
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        pick_dtype("int4", "cpu")


# --- bad inputs ----------------------------------------------------------------------


def _empty(tmp_path, source):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _config_only(tmp_path, source):
    folder = tmp_path / "config-only"
    folder.mkdir()
    shutil.copy(source / "config.json", folder)
    return folder


def _garbage_weights(tmp_path, source):
    folder = copy_model(source, tmp_path / "garbage")
    (folder / "model.safetensors").write_bytes(b"this is not a safetensors file" * 10)
    return folder


def _truncated_weights(tmp_path, source):
    folder = copy_model(source, tmp_path / "truncated")
    data = (source / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    return folder


def _no_tokenizer(tmp_path, source):
    folder = copy_model(source, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    return folder


def _no_config(tmp_path, source):
    folder = copy_model(source, tmp_path / "no-config")
    (folder / "config.json").unlink()
    return folder


def _unknown_type(tmp_path, source):
    folder = copy_model(source, tmp_path / "unknown")
    edit_config(folder, model_type="blorp", architectures=["BlorpForCausalLM"])
    return folder


def _custom_code(tmp_path, source):
    folder = copy_model(source, tmp_path / "custom")
    edit_config(
        folder,
        model_type="my_custom_lm",
        architectures=["MyCustomLM"],
        auto_map={"AutoConfig": "conf.MyConfig", "AutoModelForCausalLM": "model.MyCustomLM"},
    )
    return folder


def _masked_lm(tmp_path, source):
    folder = copy_model(source, tmp_path / "masked")
    edit_config(folder, architectures=["GPT2ForMaskedLM"])
    return folder


def _encoder_decoder(tmp_path, source):
    folder = copy_model(source, tmp_path / "t5")
    edit_config(folder, model_type="t5", architectures=[])
    return folder


def _adapter_folder(tmp_path, source):
    folder = tmp_path / "adapter"
    load(source).save_adapter(folder)
    return folder


BAD_FOLDERS = {
    "empty": (_empty, "is empty"),
    "config_only": (_config_only, "has config.json but no weights"),
    "garbage_weights": (_garbage_weights, "truncated or corrupt"),
    "truncated_weights": (_truncated_weights, "truncated or corrupt"),
    "no_tokenizer": (_no_tokenizer, "no tokenizer files"),
    "no_config": (_no_config, "no config.json"),
    "unknown_type": (_unknown_type, "Unknown model type 'blorp'"),
    "custom_code": (_custom_code, "pass --trust-remote-code"),
    "masked_lm": (_masked_lm, "not a causal language model"),
    "encoder_decoder": (_encoder_decoder, "no causal language-model head"),
    "adapter_folder": (_adapter_folder, "is a LoRA adapter folder, not a model"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_folder_gives_model_load_error(tmp_path, tiny_model_dir, case):
    build, message = BAD_FOLDERS[case]
    folder = build(tmp_path, tiny_model_dir)
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load(folder)


def test_sequence_classification_model_is_refused(tmp_path, tiny_tokenizer):
    folder = tmp_path / "rm"
    config = GPT2Config(
        n_layer=1, n_head=2, n_embd=32, vocab_size=len(tiny_tokenizer), num_labels=1
    )
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    with pytest.raises(ModelLoadError) as caught:
        load(folder)
    message = str(caught.value)
    assert "sequence-classification model (a reward model?)" in message
    assert "--reward rm=DIR, not as a policy" in message


def test_missing_folder_and_offline_hub_id(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(tmp_path / "nowhere" / "model")
    # conftest sets HF_HUB_OFFLINE=1: a plausible hub id fails as "no network".
    with pytest.raises(ModelLoadError, match="no network.*use a local folder or 'demo'"):
        load("nobody-here/not-a-model-xyz")


def test_adapter_path_must_be_a_peft_folder(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        load(tiny_model_dir, adapter_path=str(tiny_model_dir))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(tiny_model_dir, adapter_path=str(tmp_path / "missing"))


# --- LoRA targets --------------------------------------------------------------------


class _Toy(torch.nn.Module):
    def __init__(self, model_type: str, names: list[str]):
        super().__init__()
        self.config = type("Config", (), {"model_type": model_type})()
        self.block = torch.nn.ModuleDict({name: torch.nn.Linear(4, 4) for name in names})
        self.lm_head = torch.nn.Linear(4, 8)


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_lora_targets_per_family(tiny_model_dirs, family):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[family])
    assert lora_targets(model) == EXPECTED_TARGETS[family]


def test_lora_targets_unknown_architecture_lists_linear_layers():
    with pytest.raises(ModelLoadError) as caught:
        lora_targets(_Toy("weird", ["foo", "bar"]))
    message = str(caught.value)
    assert "'weird'" in message and "bar, foo" in message
    assert "target_modules" in message and "--lora-targets" in message
    assert "lm_head" not in message


def test_lora_targets_recognises_llama_style_names_of_a_new_type():
    assert lora_targets(_Toy("brand_new", LLAMA_TARGETS)) == LLAMA_TARGETS


def test_explicit_lora_targets(tiny_model_dir):
    session = load(tiny_model_dir, lora=LoraSpec(r=2, target_modules=("c_attn",)))
    assert set(session.model.peft_config["default"].target_modules) == {"c_attn"}
    with pytest.raises(ModelLoadError, match="q_proj not found.*c_attn"):
        load(tiny_model_dir, lora=LoraSpec(target_modules=("q_proj",)))


# --- reference model and adapters ----------------------------------------------------


def test_reference_equals_base_after_training(tiny_model_dir):
    base = logits_of(load(tiny_model_dir, lora=None).model, IDS)
    session = load(tiny_model_dir)
    # Fresh LoRA (lora_B = 0) changes nothing.
    assert torch.allclose(logits_of(session.model, IDS), base, atol=1e-6)
    train_lora_a_bit(session, IDS)
    policy = logits_of(session.model, IDS)
    with session.reference():
        reference = logits_of(session.model, IDS)
    assert not torch.allclose(policy, base, atol=1e-3)
    assert torch.allclose(reference, base, atol=1e-6)
    # The adapter is back on after the block.
    assert torch.allclose(logits_of(session.model, IDS), policy)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_adapter_round_trip(tmp_path, tiny_model_dir):
    session = load(tiny_model_dir)
    train_lora_a_bit(session, IDS)
    trained = logits_of(session.model, IDS)
    folder = tmp_path / "adapter"
    session.save_adapter(folder)
    assert (folder / "adapter_config.json").is_file()
    assert (folder / "adapter_model.safetensors").is_file()

    # Plain PEFT reads it.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = PeftModel.from_pretrained(base, folder)
    assert torch.allclose(logits_of(peft_model, IDS), trained, atol=1e-5)

    # As ModelSpec.adapter_path, trainable.
    reloaded = load(tiny_model_dir, adapter_path=str(folder))
    assert torch.allclose(logits_of(reloaded.model, IDS), trained, atol=1e-5)
    assert reloaded.param_counts().trainable == session.param_counts().trainable

    # Into a fresh session of the same shape: weights copied in place.
    fresh = load(tiny_model_dir)
    params_before = {n: p for n, p in fresh.model.named_parameters() if p.requires_grad}
    fresh.load_adapter(folder)
    params_after = {n: p for n, p in fresh.model.named_parameters() if p.requires_grad}
    assert all(params_after[n] is p for n, p in params_before.items())
    assert torch.allclose(logits_of(fresh.model, IDS), trained, atol=1e-5)
    with fresh.reference():
        assert not torch.allclose(logits_of(fresh.model, IDS), trained, atol=1e-3)


def test_load_adapter_of_other_shape_replaces_it(tmp_path, tiny_model_dir):
    small = load(tiny_model_dir, lora=LoraSpec(r=2, target_modules=("c_attn",)))
    train_lora_a_bit(small, IDS)
    small.save_adapter(tmp_path / "small")
    session = load(tiny_model_dir)  # r=16 on three module kinds
    session.load_adapter(tmp_path / "small")
    assert session.model.peft_config["default"].r == 2
    assert not any(module.training for module in session.model.modules())
    assert torch.allclose(logits_of(session.model, IDS), logits_of(small.model, IDS), atol=1e-5)
    assert session.param_counts().trainable == small.param_counts().trainable


def test_adapter_of_another_model_is_refused_and_keeps_current(tmp_path, tiny_model_dirs):
    load(tiny_model_dirs["llama"]).save_adapter(tmp_path / "llama-adapter")
    session = load(tiny_model_dirs["gpt2"])
    before = logits_of(session.model, IDS)
    with pytest.raises(ModelLoadError, match="does not fit this model"):
        session.load_adapter(tmp_path / "llama-adapter")
    assert session.has_adapter
    assert torch.allclose(logits_of(session.model, IDS), before)


def test_unload_frees_the_model(tiny_model_dir):
    session = load(tiny_model_dir)
    model_ref = weakref.ref(session.model)
    session.unload()
    gc.collect()
    assert session.model is None and model_ref() is None
    assert session.param_counts().total == 0
    with pytest.raises(ModelLoadError, match="unloaded"):
        session.load_adapter(Path("anything"))


def test_memory_report(tiny_model_dir):
    memory = load(tiny_model_dir).memory()
    assert memory.device == "cpu" and memory.process_rss_bytes > 10_000_000
    assert memory.device_used_bytes is None and memory.device_free_bytes is None


def test_same_lora_seed_gives_same_adapter_and_leaves_global_rng_alone(tiny_model_dir):
    def lora_weights(seed):
        spec = ModelSpec(str(tiny_model_dir), device="cpu", lora=LoraSpec(r=4, seed=seed))
        session = ModelSession.load(spec)
        return {n: p.detach().clone() for n, p in session.model.named_parameters() if "lora_A" in n}

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = lora_weights(0)
    assert torch.equal(torch.rand(1), expected_next)  # the caller's RNG was not consumed
    second, other = lora_weights(0), lora_weights(1)
    assert first.keys() == second.keys() and first
    assert all(torch.equal(first[n], second[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)
