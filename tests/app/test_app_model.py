"""Model page: load a model in the background; a broken folder gives a readable error
dialog and the app keeps working."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel

from tests.app.test_app_support import (  # noqa: F401 (fixtures)
    click,
    error_dialogs,
    load_model,
    wait_idle,
    window_fixture,
)


def test_load_demo_model_shows_architecture_and_counts(qtbot, window):
    load_model(qtbot, window, "demo")
    session = window.state.session
    assert session is not None and session.has_adapter
    page = window.model_page
    shown = {
        page.info_form.itemAt(i, page.info_form.ItemRole.FieldRole).widget().objectName()
        for i in range(page.info_form.rowCount())
    }
    assert {"info_architecture", "info_params", "info_trainable", "info_memory"} <= shown
    assert "gpt2" in window.findChild(object, "info_architecture").text()
    assert session.name in window.device_label.text()


def test_broken_model_folder_shows_error_and_app_keeps_working(qtbot, window, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json", encoding="utf-8")
    combo = window.findChild(QComboBox, "modelCombo")
    combo.setEditText(str(broken))
    click(qtbot, window, "loadModelButton")
    qtbot.waitUntil(lambda: bool(error_dialogs(window)), timeout=30_000)
    wait_idle(qtbot, window)
    dialog = error_dialogs(window)[0]
    assert "broken-model" in dialog.text() or "config" in dialog.text().lower()
    assert not dialog.detailedText()  # a StudioError: plain message, no traceback
    assert window.state.session is None
    dialog.close()
    # The app still works: a good model loads afterwards.
    load_model(qtbot, window, "demo")
    assert window.state.session is not None


def test_prompt_format_choice_reaches_the_session_and_is_shown(qtbot, window, chat_model_dir):
    window.findChild(QComboBox, "promptFormatCombo").setCurrentText("chat")
    load_model(qtbot, window, str(chat_model_dir))
    assert window.state.session.prompt_format == "chat"
    assert window.findChild(QLabel, "info_prompt_format").text() == "chat"
    assert window.state.setting("model/prompt_format") == "chat"

    window.findChild(QComboBox, "promptFormatCombo").setCurrentText("plain")
    load_model(qtbot, window, str(chat_model_dir))
    assert window.state.session.prompt_format == "plain"
    hint = window.findChild(QLabel, "info_prompt_format").text()
    assert hint.startswith("plain") and "choose chat" in hint
