"""The Help menu (user guide, shortcuts, report a problem) and Ctrl+1…6 page switching."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QLabel

from app import help_menu
from app.help_menu import ReportProblemDialog, ShortcutsDialog, UserGuideDialog
from app.main_window import PAGES
from tests.app.test_app_support import window_fixture  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]


def _help_action(window, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in menu.actions() if a.text().startswith(text))


def test_ctrl_digits_switch_pages(qtbot, window):
    for index in (2, 0, 5, 3, 1, 4):
        focus = QApplication.focusWidget() or window
        qtbot.keyClick(
            focus, getattr(Qt.Key, f"Key_{index + 1}"), Qt.KeyboardModifier.ControlModifier
        )
        assert window.nav.currentRow() == index
        assert window.stack.currentIndex() == index
    assert len(PAGES) == 6


def test_user_guide_opens_from_the_help_menu_with_its_screenshots(qtbot, window):
    _help_action(window, "&User Guide").trigger()
    dialog = window.help_dialog(UserGuideDialog)
    assert dialog.isVisible() and dialog.width() <= window.width()
    text = dialog.browser.toPlainText()
    assert "Compare & Rate" in text and not text.startswith("#")  # rendered markdown
    assert help_menu.user_guide_path() == ROOT / "docs" / "user_guide.md"
    # The screenshots resolve beside the guide (the bundle ships both: packaging spec).
    document = dialog.browser.document()
    image = document.resource(
        document.ResourceType.ImageResource, "screenshots/model-1280x800-light.png"
    )
    assert image is not None and not image.isNull()
    spec = (ROOT / "packaging" / "rlhf_studio.spec").read_text()
    assert '"user_guide.md"), "docs")' in spec and '"screenshots"), "docs/screenshots")' in spec


def test_user_guide_missing_says_where_it_is(qtbot, monkeypatch):
    monkeypatch.setattr(help_menu, "user_guide_path", lambda: None)
    dialog = UserGuideDialog()
    qtbot.addWidget(dialog)
    assert "docs/user_guide.md" in dialog.browser.toPlainText()


def test_shortcuts_list_every_rating_key(qtbot, window):
    _help_action(window, "&Keyboard Shortcuts").trigger()
    table = window.help_dialog(ShortcutsDialog).table
    keys = " ".join(table.item(row, 0).text() for row in range(table.rowCount()))
    for key in ("1 / 2 / 3 / 0", "G", "N", "Esc", "Ctrl+1"):
        assert key in keys


def test_report_a_problem_opens_the_log_folder(qtbot, window, monkeypatch):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    _help_action(window, "&Report a Problem").trigger()
    dialog = window.help_dialog(ReportProblemDialog)
    assert [url.toLocalFile() for url in opened] == [str(dialog.folder)]
    assert dialog.folder.is_dir() and dialog.folder.name == "logs"
    assert str(dialog.folder) in dialog.findChild(QLabel, "reportProblemText").text()
