"""Drive the real window through the whole demo loop and save a screenshot of every page.

    python -m app.screenshot_tour docs/screenshots [--steps 30] [--theme light|dark]
        [--size 1440x900]

Runs offscreen (no display needed): loads the demo model, rates a pair, AI-scores it,
trains a short PPO run, opens the run's checkpoint in Compare & Rate (base vs tuned)
and saves one PNG per page. The docs' screenshots are made with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PAGES = ("model", "prompts", "compare", "train", "runs", "feedback")


def wait_until(app, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Process events until `condition()` holds; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def settle(app, seconds: float = 0.4) -> None:
    """Let timers (plot redraws) and paints run for a moment."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def idle(window) -> Callable[[], bool]:
    return lambda: not window.state.jobs()


QUICK = {"batch_size": 4, "mini_batch_size": 4, "ppo_epochs": 1, "max_new_tokens": 8}
"""Form values of `quick` tours (tests): tiny PPO steps, same flow."""


def run_tour(
    out: Path, steps: int = 30, theme: str = "light", size=(1440, 900), quick: bool = False
) -> list[Path]:
    """Save one screenshot per page into `out`; returns the files written."""
    from PySide6.QtWidgets import QApplication

    from app.startup import build_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rlhf-studio-tour-") as tmp:
        settings = Path(tmp) / "settings.ini"
        settings.write_text(f"[ui]\ntheme={theme}\n", encoding="utf-8")
        window = build_window(Path(tmp) / "workspace", settings_path=settings)
        window.resize(*size)
        window.show()
        try:
            return _tour(app, window, out, steps, quick)
        finally:
            window.state.stop_all_jobs()
            wait_until(app, idle(window), 300, "background jobs to stop")
            window.close()
            window.deleteLater()  # a closed but living window would keep the focus
            settle(app, 0.1)


def _tour(app, window, out: Path, steps: int, quick: bool) -> list[Path]:
    shots: list[Path] = []

    def shoot(name: str, page) -> None:
        window.show_page(page)
        settle(app, 0.8)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        shots.append(path)

    window.model_page.load_button.click()
    wait_until(app, lambda: window.state.session is not None, 600, "the demo model")
    wait_until(app, idle(window), 60, "loading to finish")
    shoot("model", window.model_page)
    shoot("prompts", window.prompts_page)
    _train(app, window, steps, "demo: sentiment, KL 0.2", 0.2, quick)
    _train(app, window, steps, "demo: sentiment + length, KL 0.05", 0.05, quick)
    shoot("train", window.train_page)
    runs = window.runs_page
    window.show_page(runs)
    settle(app)
    runs.select_runs([run.id for run in window.state.store.runs()])
    settle(app)
    shoot("runs", runs)
    _compare(app, window, runs)
    shoot("compare", window.compare_page)
    _feedback(app, window)
    shoot("feedback", window.feedback_page)
    return shots


def _train(app, window, steps: int, name: str, kl_coef: float, quick: bool) -> None:
    from app.algorithms import PPO_PRESETS as PRESETS

    page = window.train_page
    window.show_page(page)
    page.form.apply_preset(list(PRESETS)[1])  # demo: positive reviews
    page.form.field_widget("steps").setValue(steps)
    page.form.field_widget("checkpoint_every").setValue(max(1, steps // 2))
    page.form.field_widget("init_kl_coef").setValue(kl_coef)
    for field, value in QUICK.items() if quick else ():
        page.form.field_widget(field).setValue(value)
    if "length" not in name:
        page.form.rewards.set_specs(["sentiment"])
    page.name_edit.setText(name)
    page.start_button.click()
    wait_until(app, lambda: page.phase == "idle", 60 * 30, "the PPO run")
    wait_until(app, idle(window), 60, "the run to end")
    page.dashboard.refresh_now()


def _compare(app, window, runs) -> None:
    """Base vs the tuned checkpoint: two pairs rated, the second shown with its AI scores,
    its revealed recipes and the session's tally."""
    runs.checkpoint_list.setCurrentRow(runs.checkpoint_list.count() - 1)
    runs._on_open_checkpoint()
    page = window.compare_page
    window.show_page(page)
    for _ in range(2):
        page.generate()
        wait_until(app, idle(window), 120, "a pair")
        _vote_for_the_more_positive_side(page)
        page.move(1)
    page.move(-1)


def _vote_for_the_more_positive_side(page) -> None:
    """Rate as a reader who wants upbeat reviews would: by the sides' AI scores."""
    pair = page.current_pair()
    left, right = pair.shown()
    scores = pair.scores[-1] if pair.scores else None
    better_left = scores is not None and scores.total(left) >= scores.total(right)
    page.vote("left" if better_left else "right")


def _feedback(app, window) -> None:
    """The judge labels pairs, a reward model trains on all comparisons, agreement refreshes."""
    page = window.feedback_page
    window.show_page(page)
    page.label_button.click()
    wait_until(app, idle(window), 600, "AI labelling")
    page.train_rm_button.click()
    wait_until(app, idle(window), 600, "reward-model training")
    page.refresh_button.click()
    wait_until(app, idle(window), 120, "the agreement table")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        message = f"{text!r}: give the size as WIDTHxHEIGHT, e.g. 1280x800"
        raise argparse.ArgumentTypeError(message) from None
    return width, height


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--steps", type=int, default=30, help="PPO steps of the demo run")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", type=_size, default=(1440, 900), help="window size, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for path in run_tour(args.out, args.steps, args.theme, args.size):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
