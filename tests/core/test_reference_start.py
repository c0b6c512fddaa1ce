"""The KL reference follows the start: a run from a trained adapter (e.g. SFT) measures
KL to that adapter, frozen on the same backbone; `--reference base` measures it to the
adapter-off base. Recorded in the run and the checkpoint; a resume keeps it."""

import json
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.config import ModelSpec
from core.model.session import ModelSession
from core.store import Store


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter that moves the tiny model (as SFT would): lora_B is not zero."""
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in session.model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    folder = tmp_path_factory.mktemp("sft") / "adapter"
    session.save_adapter(folder)
    return folder


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("This movie was\nThe blender is\nThe hotel\nMy new phone\n", encoding="utf-8")
    return path


def _args(command, model_dir, prompts_file, workspace, *extra):
    sizes = ["--batch-size", "4", "--mini-batch-size", "2", "--max-new-tokens", "6"]
    if command != "ppo":
        sizes += ["--group-size", "2"]
    return [command, "--model", str(model_dir), "--prompts", str(prompts_file),
            "--reward", "length=4", *sizes, "--workspace", str(workspace), *extra]  # fmt: skip


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _logits(session: ModelSession, ids: torch.Tensor, reference: bool) -> torch.Tensor:
    with torch.no_grad():
        if reference:
            with session.reference() as model:
                return model(input_ids=ids).logits
        return session.model(input_ids=ids).logits


def test_start_reference_is_a_frozen_copy_of_the_loaded_adapter(tiny_model_dir, trained_adapter):
    spec = ModelSpec(
        name_or_path=str(tiny_model_dir), device="cpu", adapter_path=str(trained_adapter)
    )
    session = ModelSession.load(spec)
    trainable = session.param_counts().trainable
    ids = torch.tensor([[5, 9, 13, 20, 7]])
    assert session.set_reference("start") == "start"
    assert torch.equal(_logits(session, ids, True), _logits(session, ids, False))
    assert session.param_counts().trainable == trainable  # the copy is frozen
    with torch.no_grad():  # the policy moves on; the reference stays where it started
        for name, param in session.model.named_parameters():
            if "lora_B.default" in name:
                param.add_(0.3)
    assert not torch.allclose(_logits(session, ids, True), _logits(session, ids, False))
    assert [p.requires_grad for p in session.model.parameters()].count(True) > 0
    with torch.no_grad(), session.base() as model:  # "Base" stays the adapter-off model
        kept_base = model(input_ids=ids).logits
    with torch.no_grad(), session.model.disable_adapter():
        assert torch.equal(kept_base, session.model(input_ids=ids).logits)
    assert session.set_reference("base") == "base"
    with torch.no_grad(), session.model.disable_adapter():
        base = session.model(input_ids=ids).logits
    assert torch.equal(_logits(session, ids, True), base)


def test_a_fresh_adapter_keeps_the_base_as_reference(tiny_model_dir):
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    assert session.set_reference("start") == "base"  # lora_B = 0: the start is the base


@pytest.mark.parametrize("command", ["ppo", "grpo"])
def test_step_one_kl_is_zero_from_a_trained_adapter(
    command, tiny_model_dir, trained_adapter, prompts_file, tmp_path
):
    kls = {}
    for reference in ("start", "base"):
        workspace = tmp_path / reference
        workspace.mkdir()
        out = workspace / "metrics.jsonl"
        extra = ["--adapter", str(trained_adapter), "--steps", "1", "--metrics-out", str(out)]
        args = _args(command, tiny_model_dir, prompts_file, workspace, *extra)
        assert main([*args, "--reference", reference]) == 0
        kls[reference] = _rows(out)[0]["objective/kl"]
        with Store.open(workspace) as store:
            assert store.run(1).config[command]["reference"] == reference
        meta = json.loads((workspace / "checkpoints/run-1/step-1/meta.json").read_text())
        assert meta["reference"] == reference
        kept = (workspace / "checkpoints/run-1/step-1/reference_adapter").is_dir()
        assert kept == (reference == "start")
    assert kls["start"] == pytest.approx(0.0, abs=1e-5)
    assert abs(kls["base"]) > 1e-3


def test_resume_keeps_the_start_reference(tiny_model_dir, trained_adapter, prompts_file, workspace):
    out = workspace / "metrics.jsonl"
    extra = ["--adapter", str(trained_adapter), "--steps", "1", "--ppo-epochs", "1"]
    assert main(_args("ppo", tiny_model_dir, prompts_file, workspace, *extra)) == 0
    first = workspace / "checkpoints/run-1/step-1"
    resume = ["ppo", "--resume", str(first), "--steps", "2", "--workspace", str(workspace)]
    assert main([*resume, "--metrics-out", str(out)]) == 0
    second = workspace / "checkpoints/run-1/step-2"
    assert json.loads((second / "meta.json").read_text())["reference"] == "start"
    saved = (second / "reference_adapter/adapter_model.safetensors").read_bytes()
    assert saved == (first / "reference_adapter/adapter_model.safetensors").read_bytes()
