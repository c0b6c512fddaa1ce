"""Drive the real window through the whole demo loop and save screenshots of every page, at
each window size and in each theme.

    python -m app.screenshot_tour docs/screenshots [--steps 30]
        [--sizes 1280x800,1920x1080] [--themes light,dark]

Runs offscreen (no display needed) and offline: lists two tiny models built on the spot in
a stand-in Hugging Face cache (app/screenshot_models.py), loads the demo model, trains two
short PPO runs and a GRPO run, opens the tuned checkpoint in Compare & Rate (base vs tuned) and rates two
pairs, lets the demo judge label pairs by its positivity rubric and trains a reward model
on all comparisons, trains DPO on them, and saves `<page>-<W>x<H>-<theme>.png` for every
page, size and theme (the window resized and restyled live for each). The docs'
screenshots are made with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from app.screenshot_files import Camera, parse_sizes
from app.screenshot_models import tour_hub_cache
from core.judge.cache import DEMO_JUDGE

PAGES = ("model", "prompts", "train", "train-grpo", "compare", "feedback", "train-dpo", "runs")
"""The screenshots of one size and theme, in the order the tour takes them."""
SIZES = ((1280, 800), (1920, 1080))
THEMES = ("light", "dark")
RUBRIC = "positivity"
RATER = "sam"
JUDGED_PAIRS = 48
"""Pairs the judge labels: enough for a reward model with a held-out share to speak of."""


def wait_until(app, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Process events until `condition()` holds; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def idle(window) -> Callable[[], bool]:
    return lambda: not window.state.jobs()


QUICK = {"batch_size": 4, "mini_batch_size": 4, "ppo_epochs": 1, "max_new_tokens": 8}
"""Form values of `quick` tours (tests): tiny PPO steps, same flow."""


def run_tour(
    out: Path,
    steps: int = 30,
    sizes: Sequence[tuple[int, int]] = SIZES,
    themes: Sequence[str] = THEMES,
    quick: bool = False,
    judge: str = DEMO_JUDGE,
) -> list[Path]:
    """Save every page at every size in every theme into `out`; returns the files written.

    `judge`: the AI Feedback page's judge (the demo judge is built on first use, minutes;
    tests pass the loaded model's base)."""
    from PySide6.QtWidgets import QApplication

    from app.startup import build_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="rlhf-studio-tour-") as tmp,
        tour_hub_cache(Path(tmp)),  # the Model page's list of local models filled
    ):
        settings = Path(tmp) / "settings.ini"
        # A rater's name as a person would set it (not the machine's login name).
        settings.write_text(f"[ui]\ntheme={themes[0]}\nrater={RATER}\n", encoding="utf-8")
        window = build_window(Path(tmp) / "workspace", settings_path=settings)
        window.resize(*sizes[0])
        window.show()
        camera = Camera(app, window, out, sizes, themes)
        try:
            _tour(app, window, camera, steps, quick, judge)
            return camera.shots
        finally:
            window.state.stop_all_jobs()
            wait_until(app, idle(window), 300, "background jobs to stop")
            window.close()
            window.deleteLater()  # a closed but living window would keep the focus
            camera.settle(0.1)


def _tour(app, window, camera: Camera, steps: int, quick: bool, judge: str) -> None:
    window.model_page.load_button.click()
    wait_until(app, lambda: window.state.session is not None, 600, "the demo model")
    wait_until(app, idle(window), 60, "loading to finish")
    camera.shoot("model", window.model_page)
    camera.shoot("prompts", window.prompts_page)
    _train_ppo(app, window, steps, "demo: sentiment, KL 0.2", 0.2, quick)
    tuned = _train_ppo(app, window, steps, "demo: sentiment + length, KL 0.05", 0.05, quick)
    camera.shoot("train", window.train_page)
    _train_quick(app, window, "grpo", "demo: GRPO quick look", quick)
    camera.shoot("train-grpo", window.train_page)
    _compare(app, window, tuned)
    camera.shoot("compare", window.compare_page)
    _feedback(app, window, judge, quick)
    camera.shoot("feedback", window.feedback_page)
    _train_quick(app, window, "dpo", "demo: DPO on all comparisons", quick)
    camera.shoot("train-dpo", window.train_page)
    runs = window.runs_page
    window.show_page(runs)
    camera.settle()
    runs.select_runs([run.id for run in window.state.store.runs("ppo")])
    camera.shoot("runs", runs)


def _train_ppo(app, window, steps: int, name: str, kl_coef: float, quick: bool) -> int:
    """A PPO run from the "positive reviews" preset; returns its run id."""
    from app.algorithms import PPO_PRESETS as PRESETS

    form = window.train_page.form
    window.show_page(window.train_page)
    form.set_algorithm("ppo")
    form.apply_preset(list(PRESETS)[1])  # demo: positive reviews
    form.field_widget("steps").setValue(steps)
    form.field_widget("checkpoint_every").setValue(max(1, steps // 2))
    form.field_widget("init_kl_coef").setValue(kl_coef)
    for field, value in QUICK.items() if quick else ():
        form.field_widget(field).setValue(value)
    if "length" not in name:
        form.rewards.set_specs(["sentiment"])
    return _start(app, window, name)


def _train_quick(app, window, kind: str, name: str, quick: bool) -> int:
    """A run of `kind` from its "quick look" preset (2 steps when `quick`)."""
    form = window.train_page.form
    window.show_page(window.train_page)
    form.set_algorithm(kind)
    form.apply_preset(next(iter(form.algorithm().presets)))  # demo: quick look
    if quick:
        form.field_widget("steps").setValue(2)
    return _start(app, window, name)


def _start(app, window, name: str) -> int:
    page = window.train_page
    page.name_edit.setText(name)
    page.start_button.click()
    wait_until(app, lambda: page.phase == "idle", 60 * 30, f"the run '{name}'")
    wait_until(app, idle(window), 60, "the run to end")
    for plot in getattr(page.shown_dashboard, "plots", ()):
        plot.refresh()  # the last step's redraw may still be on its timer
    page.dashboard.refresh_now()
    return page.run_id


def _compare(app, window, run_id: int) -> None:
    """Base vs the tuned checkpoint: two pairs rated, the second shown with its AI scores,
    its revealed recipes and the session's tally."""
    runs = window.runs_page
    window.show_page(runs)
    runs.select_runs([run_id])
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


def _feedback(app, window, judge: str, quick: bool) -> None:
    """The judge labels pairs by the positivity rubric, a reward model trains on all
    comparisons, the agreement refreshes."""
    page = window.feedback_page
    window.show_page(page)
    form = page.judge_form
    form.judge.select(judge)
    form.preset_combo.setCurrentIndex(form.preset_combo.findData(RUBRIC))
    form.load_preset(RUBRIC)  # as choosing it in the combo does
    form.pairs_spin.setValue(4 if quick else JUDGED_PAIRS)
    if quick:
        page.rm_form.epochs_spin.setValue(1)
    page.label_button.click()
    wait_until(app, idle(window), 1800, "AI labelling")
    page.train_rm_button.click()
    wait_until(app, idle(window), 600, "reward-model training")
    page.refresh_button.click()
    wait_until(app, idle(window), 120, "the agreement table")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--steps", type=int, default=30, help="PPO steps of the demo runs")
    parser.add_argument(
        "--sizes", type=parse_sizes, default=SIZES, help="window sizes, e.g. 1280x800,1920x1080"
    )
    parser.add_argument(
        "--themes",
        type=lambda text: tuple(text.split(",")),
        default=THEMES,
        help="themes, e.g. light,dark",
    )
    args = parser.parse_args(argv)
    unknown = set(args.themes) - set(THEMES)
    if unknown:
        parser.error(f"unknown theme {sorted(unknown)[0]!r}: choose among light, dark")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for path in run_tour(args.out, args.steps, args.sizes, args.themes):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
