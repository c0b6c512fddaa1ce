"""The Settings dialog: theme, rater name, and what happens on launch."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from app.app_state import AppState
from app.theme import THEMES


class SettingsDialog(QDialog):
    """Edits the persistent settings; applied on OK."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.state = state
        self.theme_combo = QComboBox()
        self.theme_combo.addItems([name.capitalize() for name in THEMES])
        theme = state.setting("ui/theme", "system")
        self.theme_combo.setCurrentIndex(THEMES.index(theme) if theme in THEMES else 0)
        self.theme_combo.setToolTip("System follows the desktop's light or dark scheme.")
        self.rater_edit = QLineEdit(state.rater_name())
        self.rater_edit.setPlaceholderText("your name, saved with every vote")
        self.autoload_check = QCheckBox("Reload the last model on launch")
        self.autoload_check.setChecked(state.setting("model/autoload", True, bool))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Theme", self.theme_combo)
        form.addRow("Rater name", self.rater_edit)
        form.addRow("", self.autoload_check)
        form.addRow(buttons)

    def _on_accept(self) -> None:
        self.state.set_setting("ui/theme", THEMES[self.theme_combo.currentIndex()])
        if self.rater_edit.text().strip():
            self.state.set_setting("ui/rater", self.rater_edit.text().strip())
        self.state.set_setting("model/autoload", self.autoload_check.isChecked())
        self.accept()
