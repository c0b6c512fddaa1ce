"""Shared fixtures: tiny random models of each supported family, tmp workspaces.

RLHF_STUDIO_HOME points at .pytest_home/ in the repo so the demo model is built once
and reused by later local runs (CI's clean clone builds it once per run).
"""

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RLHF_STUDIO_HOME", str(Path(__file__).resolve().parents[1] / ".pytest_home"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"

from core.quiet_libraries import block_hub_kernels  # noqa: E402

block_hub_kernels()  # as the CLI and the app do at start-up, before transformers loads

import pytest  # noqa: E402
import torch  # noqa: E402
from tokenizers.processors import TemplateProcessing  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
)

from core.demo.tokenizer import train_bpe_tokenizer  # noqa: E402

# Tiny models run much faster on one thread than on two fighting over two cores.
torch.set_num_threads(1)

TINY_TEXTS = [
    "This movie was great fun and the acting was wonderful.",
    "The product broke after one day. Terrible quality, do not buy.",
    "I loved the story, the music and the ending.",
    "Boring plot, flat characters and a waste of money.",
    "The blender works fine, nothing special but it does the job.",
] * 20


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the demo model before the first test when any collected test may use it.

    The build takes minutes on 2 cores (far longer on a busy machine); inside a test it
    counted against that test's timeout and wait budgets. Here it runs once, untimed, and
    every later use finds it in RLHF_STUDIO_HOME. Nothing is built for a selection that
    never mentions the demo model."""
    if not any(_mentions_demo(path) for path in {item.path for item in session.items}):
        return
    from core.demo import ensure_demo_model, is_demo_model_built

    if is_demo_model_built():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("building the demo model once for this session (minutes)...")
    ensure_demo_model()


def _mentions_demo(path: Path) -> bool:
    try:
        return "demo" in path.read_text(encoding="utf-8")
    except OSError:
        return False


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for the test, restored after it. Tiny models gain nothing from
    more, and on a busy 2-core machine the threads' barriers cost 10x. (The demo build's
    thread governor may have changed the process-wide count set above.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return train_bpe_tokenizer(TINY_TEXTS, vocab_size=320)


def _tiny_config(family: str, tokenizer):
    common = dict(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if family == "gpt2":
        return GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=128, **common)
    if family == "llama":
        return LlamaConfig(
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=128,
            **common,
        )
    if family == "gpt_neox":
        return GPTNeoXConfig(
            num_hidden_layers=2,
            num_attention_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=128,
            **common,
        )
    raise ValueError(family)


def build_tiny_model_dir(path: Path, family: str, tokenizer) -> Path:
    """Save a random tiny causal LM of `family` with `tokenizer` as an HF folder."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(_tiny_config(family, tokenizer))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, tiny_tokenizer) -> dict[str, Path]:
    """{family: folder} for gpt2, llama and gpt_neox tiny random models."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        family: build_tiny_model_dir(root / family, family, tiny_tokenizer)
        for family in ("gpt2", "llama", "gpt_neox")
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model_dirs) -> Path:
    """The tiny GPT-2 folder: the default model of fast unit tests."""
    return tiny_model_dirs["gpt2"]


@pytest.fixture
def workspace(tmp_path) -> Path:
    """An empty workspace folder."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    """The real demo model folder (built once into RLHF_STUDIO_HOME, reused by later runs)."""
    from core.demo import ensure_demo_model

    return ensure_demo_model()


@pytest.fixture(scope="session")
def quick_judge_folder(tmp_path_factory, demo_model_dir) -> Path:
    """A quick build of the demo judge (core.rlaif_demo.QUICK_JUDGE: positivity only,
    about 40 s on 2 cores), named demo-judge so its labels read ai:demo-judge#<rubric>."""
    from core.judge.train import build_demo_judge
    from core.rlaif_demo import QUICK_JUDGE

    folder = tmp_path_factory.mktemp("quick-judge") / "demo-judge"
    build_demo_judge(folder, demo_model_dir, QUICK_JUDGE)
    return folder


# A ChatML-like template that writes its own BOS, as Llama-style templates do.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


@pytest.fixture(scope="session")
def chat_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny GPT-2 with a chat template and a tokenizer that adds BOS to plain text."""
    folder = tmp_path_factory.mktemp("chat-model") / "model"
    shutil.copytree(tiny_model_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    bos = tokenizer.bos_token
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tokenizer.bos_token_id)]
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder
