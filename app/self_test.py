"""`rlhf-studio --self-test`: prove an installed (frozen) app works, headless, then exit.

It runs the same path a user's first session takes, on the bundle's own files:
resources, the user data folder, torch, the demo model (reused from the user's cache,
built on first use), Qt offscreen with the plot stack and the whole main window, one
generated pair, the sentiment reward, the workspace store, and one PPO step.
Everything it writes goes to a temporary workspace that is removed at the end; only
the demo model cache lives in the real user data folder, so a later run reuses it.

Each check prints `ok  <what>: <detail>`; the last line is `self-test passed` (exit 0).
A failed check prints `FAIL  <what>: <error>` with the traceback and exits 1.

    rlhf-studio --self-test [--model FOLDER] [--device auto|cpu|cuda|mps] [--reward SPEC] [--keep]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core.quiet_libraries import quiet_libraries

if TYPE_CHECKING:  # torch-heavy modules, imported by the checks that need them
    from core.model.generate import Completion
    from core.model.session import ModelSession
    from core.rewards.base import RewardSource
    from core.store import Store

PPO_SETTINGS: dict[str, Any] = dict(
    steps=1, batch_size=2, mini_batch_size=2, ppo_epochs=1, max_new_tokens=8, samples_per_step=2
)
"""The smallest PPO step that still exercises rollout, reward, KL, GAE and an update."""


Made = TypeVar("Made")


def _from_earlier(value: Made | None, what: str) -> Made:
    """`value`, which an earlier check made (the checks run in order, stopping at a failure)."""
    if value is None:
        raise RuntimeError(f"no {what}: the check that makes it did not run")
    return value


@dataclass
class Context:
    """What the checks hand on to each other."""

    model: Path | None
    """Model folder from --model; None means the demo model."""
    device: str
    reward_spec: str
    """The reward of the pair and the PPO step, as `KIND[=ARG][@WEIGHT]`."""
    root: Path
    """Temporary folder: RLHF_STUDIO_HOME and the workspace for everything but the demo model."""
    prompts: list[str] = field(default_factory=list)
    session: ModelSession | None = None
    reward: RewardSource | None = None
    pair: list[Completion] = field(default_factory=list)
    pair_scores: list[float] = field(default_factory=list)
    store: Store | None = None
    keep: list[Any] = field(default_factory=list)  # Qt objects that must outlive their check

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"


def check_bundle(ctx: Context) -> str:
    """Which Python runs, from which folder, frozen or not."""
    frozen = getattr(sys, "frozen", False)
    where = Path(sys.executable).parent if frozen else Path(__file__).resolve().parents[1]
    kind = "frozen bundle" if frozen else "source tree"
    return f"Python {sys.version.split()[0]} on {sys.platform}, {kind} at {where}"


def check_resources(ctx: Context) -> str:
    """The package data ships with the app and is found where it lies."""
    from core.data.prompts_io import read_prompts
    from resources import resource_path

    path = resource_path("prompts", "demo.txt")
    ctx.prompts = [record.text for record in read_prompts(path)]
    if not ctx.prompts:
        raise RuntimeError(f"{path} holds no prompts")
    shipped = [p for p in resource_path().rglob("*") if p.is_file() and p.suffix != ".pyc"]
    return f"{resource_path()} ({len(shipped)} files; {len(ctx.prompts)} demo prompts)"


def check_user_data(ctx: Context) -> str:
    """User data goes to the platform's user data folder, never into the app's folder."""
    from core.paths import data_dir

    folder = data_dir().resolve()
    app_folder = Path(sys.executable).resolve().parent
    if getattr(sys, "frozen", False) and folder.is_relative_to(app_folder):
        raise RuntimeError(f"user data folder {folder} lies inside the app folder {app_folder}")
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".self-test-"):
        pass  # created and removed: the folder is writable
    return f"{folder} (writable)"


def check_main_window(ctx: Context) -> str:
    """Qt starts headless, the plot stack draws, and the whole main window builds and paints.

    Building the window imports every page and widget, so a module the bundle lacks
    fails here rather than in a user's first click.
    """
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QApplication

    from app.startup import build_window

    existing = QApplication.instance()
    qt_app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication([sys.argv[0], "-platform", "offscreen"])
    )
    ctx.keep.append(qt_app)
    plot = pyqtgraph.PlotWidget()
    curve = plot.plot([0.0, 1.0, 2.0], [0.0, 0.5, 0.2])
    plot.grab()  # renders once: fonts, style and image formats all load
    if len(curve.getData()[0]) != 3:
        raise RuntimeError("pyqtgraph did not keep the plotted data")
    plot.deleteLater()
    window = build_window(ctx.workspace, settings_path=ctx.root / "settings.ini")
    image = window.grab()
    window.close()
    window.deleteLater()
    qt_app.processEvents()
    return (
        f"Qt {qVersion()} ({qt_app.platformName()}), PySide6 {PySide6.__version__}, "
        f"pyqtgraph {pyqtgraph.__version__}, main window {image.width()}x{image.height()}"
    )


def check_torch(ctx: Context) -> str:
    """torch computes and differentiates; say which accelerators it sees."""
    import torch

    x = torch.randn(8, 8, requires_grad=True)  # (8, 8)
    (x @ x.T).sum().backward()
    if x.grad is None or not torch.isfinite(x.grad).all():
        raise RuntimeError("torch autograd returned no finite gradient")
    cuda = torch.version.cuda
    gpu = f"CUDA {cuda}, available: {torch.cuda.is_available()}" if cuda else "CPU build"
    return f"torch {torch.__version__} ({gpu}), {torch.get_num_threads()} threads"


def check_demo_model(ctx: Context) -> str:
    """The demo model from the user's cache, built there on first use (about 2 minutes)."""
    if ctx.model is not None:
        if not (ctx.model / "config.json").is_file():
            raise RuntimeError(f"{ctx.model} has no config.json; pass a model folder to --model")
        return f"{ctx.model} (given with --model)"
    from core.demo import ensure_demo_model, is_demo_model_built

    cached = is_demo_model_built()
    if not cached:
        print("    building the demo model (first run only, about 2 minutes)", flush=True)
    start = time.perf_counter()
    ctx.model = Path(ensure_demo_model(progress=_throttled_progress("demo model")))
    took = time.perf_counter() - start
    return f"{ctx.model} ({'cached' if cached else f'built in {took:.0f} s'})"


def check_model_load(ctx: Context) -> str:
    """The model loads with a fresh LoRA adapter."""
    from core.config import ModelSpec
    from core.model.session import ModelSession, describe

    ctx.session = ModelSession.load(ModelSpec(name_or_path=str(ctx.model), device=ctx.device))
    info = describe(ctx.session)
    counts = ctx.session.param_counts()
    return (
        f"{ctx.session.name} ({ctx.session.architecture}, {counts.total:,} parameters, "
        f"{counts.trainable:,} trainable) on {info.get('device', ctx.session.device)}"
    )


def check_generate(ctx: Context) -> str:
    """One pair of completions for the first demo prompt, reproducible by seed."""
    from core.config import GenerationConfig
    from core.model.generate import generate

    config = GenerationConfig(n=2, max_new_tokens=16, seed=0)
    ctx.pair = generate(_from_earlier(ctx.session, "model"), ctx.prompts[:1], config)
    if len(ctx.pair) != 2 or not all(c.response_ids for c in ctx.pair):
        raise RuntimeError(f"expected 2 non-empty completions, got {len(ctx.pair)}")
    texts = " | ".join(_short(c.text) for c in ctx.pair)
    return f"{_short(ctx.prompts[0])!r} -> {texts}"


def check_reward(ctx: Context) -> str:
    """The reward (built-in sentiment: VADER with its lexicon file) scores the pair."""
    from core.rewards import RewardContext, build_reward, parse_reward_spec

    context = RewardContext(policy_session=ctx.session)  # for model-based rewards (fluency)
    ctx.reward = build_reward([parse_reward_spec(ctx.reward_spec)], context)
    scores = ctx.reward.score([c.prompt for c in ctx.pair], [c.text for c in ctx.pair])
    if len(scores) != 2 or not all(math.isfinite(s) for s in scores):
        raise RuntimeError(f"{ctx.reward_spec} returned {scores!r}")
    ctx.pair_scores = scores
    return f"{ctx.reward_spec}: left {scores[0]:+.3f}, right {scores[1]:+.3f}"


def check_store(ctx: Context) -> str:
    """The pair, its scores and a comparison land in a temporary workspace's store."""
    from core.store import Store

    session = _from_earlier(ctx.session, "model")
    reward = _from_earlier(ctx.reward, "reward")
    ctx.store = store = Store.open(ctx.workspace)
    (prompt_id,) = store.add_prompts(ctx.prompts[:1], set_name="self-test")
    ids = [
        store.add_generation(prompt_id, c.text, session.name, None, {"n": 2}, 0) for c in ctx.pair
    ]
    for generation_id, value in zip(ids, ctx.pair_scores, strict=True):
        store.add_score(generation_id, reward.name, value)
    verdict = "left" if ctx.pair_scores[0] >= ctx.pair_scores[1] else "right"
    store.add_comparison(prompt_id, ids[0], ids[1], verdict, "self-test")
    if len(store.comparisons()) != 1 or store.generation(ids[1]).text != ctx.pair[1].text:
        raise RuntimeError("the store did not return what was written")
    return f"{store.path} (1 prompt, 2 generations, 2 scores, 1 comparison)"


def check_ppo_step(ctx: Context) -> str:
    """One PPO step on the sentiment reward: finite metrics, stored, adapter changed."""
    import torch

    from core.algorithms import DEFAULT_KIND, spec_of
    from core.config import PPOConfig
    from core.train.launch import start_run

    session = _from_earlier(ctx.session, "model")
    store = _from_earlier(ctx.store, "store")
    config = PPOConfig(**PPO_SETTINGS)
    trainable = [p for p in session.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    run = start_run(
        store,
        spec_of(DEFAULT_KIND).algorithm(),
        session,
        _from_earlier(ctx.reward, "reward"),
        ctx.prompts[:8],
        config,
        name="self-test",
    )
    run_id = run.run_id
    [result] = list(run)
    bad = [key for key, value in result.metrics.items() if not math.isfinite(value)]
    if bad:
        raise RuntimeError(f"non-finite metrics after one step: {', '.join(bad)}")
    if not store.metrics(run_id):
        raise RuntimeError("the step's metrics were not stored")
    moved = not all(torch.equal(a, p.detach()) for a, p in zip(before, trainable, strict=True))
    rewards = [sample["reward"] for sample in result.samples]
    if not moved and max(rewards) - min(rewards) > 1e-6:
        raise RuntimeError(f"rewards {rewards} differ, yet the step left the adapter unchanged")
    figures = ", ".join(f"{k} {result.metrics[k]:+.3f}" for k in ("reward/mean", "objective/kl"))
    # Equal rewards (and a fresh critic) give zero advantages: nothing to learn, not a fault.
    update = "adapter updated" if moved else "adapter unchanged (every rollout scored the same)"
    return f"step {result.step}: {figures}; {update}"


def check_workspace(ctx: Context) -> str:
    """What was written, all inside the temporary folder."""
    _from_earlier(ctx.store, "store").close()
    ctx.store = None
    files = [p for p in ctx.root.rglob("*") if p.is_file()]
    return f"{len(files)} files written under {ctx.root} (removed at exit)"


CHECKS: list[tuple[str, Callable[[Context], str]]] = [
    ("bundle", check_bundle),
    ("resources found", check_resources),
    ("user data folder", check_user_data),
    ("torch", check_torch),
    ("demo model", check_demo_model),
    ("main window offscreen", check_main_window),
    ("model loaded", check_model_load),
    ("generated one pair", check_generate),
    ("reward", check_reward),
    ("workspace store", check_store),
    ("one PPO step", check_ppo_step),
    ("temporary workspace", check_workspace),
]
"""In order; later checks use what earlier ones left in the Context."""

# RLHF_STUDIO_HOME moves to the temporary folder once the demo model is located, so its
# cache stays the user's while the window's settings and everything after go to the temp.
_SWITCH_HOME_BEFORE = "main window offscreen"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check, print one line each, return 0 when all pass and 1 at the first failure."""
    args = _parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    quiet_libraries()  # its own entry point in the bundle: the app's start-up, as app.main does
    saved_home = os.environ.get("RLHF_STUDIO_HOME")
    root = Path(tempfile.mkdtemp(prefix="rlhf-studio-self-test-"))
    ctx = Context(model=args.model, device=args.device, reward_spec=args.reward, root=root)
    try:
        for what, check in CHECKS:
            if what == _SWITCH_HOME_BEFORE:
                os.environ["RLHF_STUDIO_HOME"] = str(root / "home")
            if not _run_check(what, check, ctx):
                return 1
    finally:
        _restore_env("RLHF_STUDIO_HOME", saved_home)
        _clean_up(ctx, keep=args.keep)
    print("self-test passed", flush=True)
    return 0


def _run_check(what: str, check: Callable[[Context], str], ctx: Context) -> bool:
    start = time.perf_counter()
    try:
        detail = check(ctx)
    except Exception as error:  # a failed check is the verdict, with its traceback
        print(f"FAIL  {what}: {type(error).__name__}: {error}", flush=True)
        traceback.print_exc()
        return False
    print(f"ok  {what}: {detail} ({time.perf_counter() - start:.1f} s)", flush=True)
    return True


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rlhf-studio --self-test", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: demo)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    parser.add_argument("--reward", default="sentiment", help="reward spec (default: sentiment)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    return parser.parse_args(argv)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _clean_up(ctx: Context, keep: bool) -> None:
    """Close the store, free the model, remove the temporary folder (unless --keep)."""
    import shutil

    if ctx.store is not None:
        ctx.store.close()
    if ctx.session is not None:
        ctx.session.unload()
    if keep:
        print(f"kept {ctx.root}", flush=True)
    else:
        shutil.rmtree(ctx.root, ignore_errors=True)


def _throttled_progress(label: str, every_s: float = 30.0) -> Callable[[int, int, str], None]:
    """A Progress callback printing at most one line per `every_s` seconds."""
    last = [0.0]

    def report(done: int, total: int, message: str) -> None:
        if time.perf_counter() - last[0] >= every_s:
            last[0] = time.perf_counter()
            print(f"    {label}: {done}/{total} {message}", flush=True)

    return report


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
