"""The RLAIF loop offline, driven through the real window, with a screenshot of each stage.

    python -m app.screenshot_rlaif_tour docs/screenshots [--pairs 64] [--steps 12]
        [--theme light|dark] [--size 1440x900]

Runs offscreen, as app.screenshot_tour does: loads the demo model, rates a few pairs on
Compare & Rate as a reader who wants upbeat reviews would (VADER decides, so the judge has
people to agree with), labels pairs on the AI Feedback page with the demo judge under the
positivity rubric, trains a reward model on the AI labels, runs GRPO against it, then
reloads the model and runs one DPO round. Saves SHOTS; the user guide's section "RLAIF
offline: the demo judge loop" shows them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.screenshot_files import parse_size, settle
from app.screenshot_tour import idle, wait_until

SHOTS = ("rlaif-label", "rlaif-reward-model", "rlaif-grpo", "rlaif-dpo-round")


def run_rlaif_tour(
    out: Path,
    pairs: int = 64,
    steps: int = 12,
    theme: str = "light",
    size=(1440, 900),
    judge: str | None = None,
    quick: bool = False,
    workspace: Path | None = None,
) -> list[Path]:
    """Save one screenshot per stage into `out`; returns the files written. `judge` is a
    judge folder (default: the built-in demo judge); `quick` shrinks every stage (tests);
    `workspace` keeps the tour's workspace there (default: a temporary one)."""
    from PySide6.QtWidgets import QApplication

    from app.startup import build_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rlhf-studio-rlaif-tour-") as tmp:
        settings = Path(tmp) / "settings.ini"
        settings.write_text(f"[ui]\ntheme={theme}\n", encoding="utf-8")
        window = build_window(workspace or Path(tmp) / "workspace", settings_path=settings)
        window.resize(*size)
        window.show()
        try:
            return _tour(app, window, out, pairs, steps, judge, quick)
        finally:
            window.state.stop_all_jobs()
            wait_until(app, idle(window), 300, "background jobs to stop")
            window.close()
            window.deleteLater()
            settle(app, 0.1)


def _tour(app, window, out: Path, pairs: int, steps: int, judge: str | None, quick: bool):
    from core.judge import DEMO_JUDGE

    shots: list[Path] = []

    def shoot(name: str, page) -> None:
        window.show_page(page)
        settle(app, 0.8)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        shots.append(path)

    _load_model(app, window)
    _rate_as_a_reader(app, window, 3 if quick else 8)
    feedback = window.feedback_page
    window.show_page(feedback)
    form = feedback.judge_form
    form.judge.select(judge or DEMO_JUDGE)
    presets = form.preset_combo  # chosen as a person does: the combo shows it
    presets.setCurrentIndex(presets.findData("positivity"))
    presets.activated.emit(presets.currentIndex())
    form.pairs_spin.setValue(pairs)
    _click_and_wait(app, window, feedback.label_button, "AI labelling")
    _click_and_wait(app, window, feedback.refresh_button, "the agreement table")
    shoot("rlaif-label", feedback)

    feedback.rm_form.source_combo.setCurrentIndex(feedback.rm_form.source_combo.findData("ai"))
    feedback.rm_form.epochs_spin.setValue(1 if quick else 4)
    _click_and_wait(app, window, feedback.train_rm_button, "reward-model training")
    _click_and_wait(app, window, feedback.refresh_button, "the agreement table")
    shoot("rlaif-reward-model", feedback)

    feedback.use_rm_button.click()  # the Train page's reward becomes rm=<the new folder>
    _grpo(app, window, steps, quick)
    shoot("rlaif-grpo", window.train_page)

    _load_model(app, window)  # the DPO round starts from the base, not from GRPO's adapter
    window.show_page(feedback)
    box = feedback.dpo_round_box
    box.pairs_spin.setValue(max(4, pairs // 4) if quick else pairs)
    box.steps_spin.setValue(2 if quick else 25)
    _click_and_wait(app, window, box.button, "the DPO round")
    shoot("rlaif-dpo-round", feedback)
    return shots


def _load_model(app, window) -> None:
    before = window.state.session
    window.model_page.load_button.click()
    wait_until(app, lambda: window.state.session not in (None, before), 600, "the demo model")
    wait_until(app, idle(window), 60, "loading to finish")


def _click_and_wait(app, window, button, what: str) -> None:
    button.click()
    wait_until(app, idle(window), 1800, what)


def _rate_as_a_reader(app, window, n: int) -> None:
    """Vote on `n` pairs for the side VADER finds more positive, as a reader who wants
    upbeat reviews would: the people's labels the judge's agreement is measured against."""
    from core.judge.rubrics import polarity

    page = window.compare_page
    window.show_page(page)
    for _ in range(n):
        page.generate()
        wait_until(app, idle(window), 120, "a pair")
        pair = page.current_pair()
        left, right = (pair.sides[i].text for i in pair.shown())
        page.vote("left" if polarity(left) >= polarity(right) else "right")
        page.move(1)


def _grpo(app, window, steps: int, quick: bool) -> None:
    page = window.train_page
    window.show_page(page)
    page.form.set_algorithm("grpo")
    values = {"steps": steps, "batch_size": 16, "group_size": 4, "mini_batch_size": 16}
    if quick:
        values |= {"batch_size": 4, "group_size": 2, "mini_batch_size": 4, "max_new_tokens": 8}
    for field, value in values.items():
        page.form.field_widget(field).setValue(value)
    page.name_edit.setText("GRPO on the AI-label reward model")
    page.start_button.click()
    wait_until(app, lambda: page.phase == "idle", 60 * 30, "the GRPO run")
    wait_until(app, idle(window), 60, "the run to end")
    page.dashboard.refresh_now()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--pairs", type=int, default=64, help="pairs the judge labels")
    parser.add_argument("--steps", type=int, default=12, help="GRPO steps")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument(
        "--size", type=parse_size, default=(1440, 900), help="window size, WIDTHxHEIGHT"
    )
    parser.add_argument("--judge", default=None, help="a judge folder (default: the demo judge)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for path in run_rlaif_tour(args.out, args.pairs, args.steps, args.theme, args.size, args.judge):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
