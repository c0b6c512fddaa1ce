"""The token inspector view (app/widgets/token_inspector.py) on a real PPO checkpoint:
its table and coloured tokens show the inspection's numbers, the lambda slider recomputes
the advantages, the hover card has the top-5, and the dialog fills itself from a worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QPalette

from app.widgets.inspect_dialog import InspectDialog
from app.widgets.token_inspector import TokenInspector, hover_card
from core.config import ModelSpec, PPOConfig
from core.inspection import Inspection, TokenRow, inspect_sample
from core.model.session import ModelSession
from core.ppo.trainer import PPOTrainer
from core.rewards.sentiment import SentimentReward
from core.store import Store
from core.train.checkpoints import ADAPTER_DIR
from core.train.launch import Algorithm, run_checkpoint_dir, start_run
from tests.app.test_app_support import JOB_TIMEOUT_MS

PPO = Algorithm.of(PPOTrainer)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def checkpoint(tiny_model_dir, workspace):
    config = PPOConfig(steps=1, batch_size=2, mini_batch_size=2, max_new_tokens=6,
                       checkpoint_every=1, samples_per_step=0, eval_prompts=0)  # fmt: skip
    session = ModelSession.load(ModelSpec(name_or_path=str(tiny_model_dir), device="cpu"))
    with Store.open(workspace) as store:
        run = start_run(store, PPO, session, SentimentReward(), ["The hotel", "My phone"],
                        config, ["sentiment"])  # fmt: skip
        list(run)
    return run_checkpoint_dir(workspace, run.run_id) / "step-1"


def _inspection(tiny_model_dir, checkpoint):
    spec = ModelSpec(str(tiny_model_dir), device="cpu", adapter_path=str(checkpoint / ADAPTER_DIR))
    return inspect_sample(ModelSession.load(spec), checkpoint, "The hotel", SentimentReward())


def test_the_view_shows_every_token_and_recomputes_advantages(qtbot, tiny_model_dir, checkpoint):
    inspection = _inspection(tiny_model_dir, checkpoint)
    view = TokenInspector()
    qtbot.addWidget(view)
    view.show_inspection(inspection)
    n = len(inspection.tokens)
    assert (
        view.table.rowCount() == n
        and view.table.item(0, 3).text() == f"{inspection.tokens[0].kl:.4f}"
    )
    assert view.token_view.toHtml().count("tok:") == n
    assert view.lambda_slider.isVisibleTo(view) and view.lambda_slider.value() == 95

    view.lambda_slider.setValue(100)  # Monte Carlo
    expected = inspection.with_lambda(1.0).tokens
    column = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    advantage = column.index("advantage")
    shown = [float(view.table.item(r, advantage).text()) for r in range(n)]
    assert shown == pytest.approx([row.advantage for row in expected], abs=1e-4)

    card = hover_card(inspection.tokens[0])
    assert "advantage" in card and card.count("<br>") >= 8  # numbers + 5 alternatives
    view._on_hover(QUrl("tok:0"))  # the hover card opens without error


def test_the_dialog_fills_from_a_worker(qtbot, tiny_model_dir, checkpoint, workspace, tmp_path):
    from PySide6.QtCore import QSettings

    from app.app_state import AppState

    state = AppState(workspace, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    state.set_session(ModelSession.load(ModelSpec(str(tiny_model_dir), device="cpu")))
    dialog = InspectDialog(state, checkpoint, "The hotel")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.inspector.table.rowCount() > 0, timeout=JOB_TIMEOUT_MS)
    assert "hover a token" in dialog.status.text()
    qtbot.waitUntil(lambda: not state.jobs(), timeout=JOB_TIMEOUT_MS)
    state.close()


def test_tokens_are_coloured_by_kl_or_advantage_and_readable_in_either_theme(qtbot):
    rows = [
        TokenRow(token, i, -1.0, -1.2, kl, 0.3, 0.0, advantage, 0.5)
        for i, (token, kl, advantage) in enumerate(
            [(" The", 0.1, 0.2), (" hotel", -0.2, -0.3), (" was", 0.5, 0.1), (" great", 0.05, 0.6)]
        )
    ]
    view = TokenInspector()
    qtbot.addWidget(view)
    view.show_inspection(Inspection("ppo", 3, "Review:", " The hotel was great", rows, 0.45, 0.6,
                                    0.05, 1.0, 0.95))  # fmt: skip
    by_kl = view.token_view.toHtml()
    assert "rgba(255,140,0,0.749" in by_kl and "rgba(70,130,255" in by_kl  # largest |KL|: full
    view.colour_combo.setCurrentText("Advantage")
    by_advantage = view.token_view.toHtml()
    assert "rgba(40,180,80,0.749" in by_advantage and "rgba(230,60,60" in by_advantage
    text = view.palette().color(QPalette.ColorRole.Text).name()
    assert f"color:{text}" in by_advantage  # the theme's text colour, not the links' blue
