"""Model page: the quantizeCombo choice reaches the loaded session, is shown, remembered
and recorded with a training run's model spec."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel

from core.model.quantize import QUANTIZE_MODES
from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    load_model,
    window_fixture,
)
from tests.core.test_quantize import build_quant_llama, needs_bnb


def test_quantize_combo_offers_every_mode(window):
    combo = window.findChild(QComboBox, "quantizeCombo")
    assert [combo.itemText(i) for i in range(combo.count())] == list(QUANTIZE_MODES)
    assert combo.currentText() == "none"
    combo.setCurrentText("8bit")
    assert window.model_page.spec().quantize == "8bit"


@needs_bnb
def test_4bit_choice_loads_a_quantised_session(qtbot, window, tmp_path, tiny_tokenizer):
    folder = build_quant_llama(tmp_path / "llama", tiny_tokenizer)
    window.findChild(QComboBox, "deviceCombo").setCurrentText("cpu")
    window.findChild(QComboBox, "quantizeCombo").setCurrentText("4bit")
    load_model(qtbot, window, str(folder))
    session = window.state.session
    assert session.spec.quantize == "4bit" and session.has_adapter
    assert "4bit" in window.findChild(QLabel, "info_dtype").text()
    assert "4bit" in window.device_label.text()
    assert window.state.setting("model/quantize") == "4bit"

    # A run records the session's spec (core.train.launch), and the Runs page shows it.
    from core.config import to_dict

    run_id = window.state.store.create_run("ppo", {"model_spec": to_dict(session.spec)})
    runs = window.runs_page
    window.show_page(runs)
    runs.refresh()
    runs.select_runs([run_id])
    assert runs.config_view.settings()["model_spec.quantize"] == "4bit"
