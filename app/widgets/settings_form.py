"""Form rows generated from a config dataclass's declared settings (core/config/settings.py).

`SettingRows(PPOConfig, "advanced", form_layout, on_edit)` adds one row per setting of
that group: a QSpinBox or QDoubleSpinBox with the declared range for numbers, a QComboBox
of the choices, a QCheckBox for a bool, a QLineEdit for a list of names; the help is the
tooltip and the objectName is the declared one. Any trainer's form is built this way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.config.settings import SettingField, settings_of

SPIN_LIMIT = 2**31 - 1
"""QSpinBox holds a 32-bit int: an open range ends here."""


class SettingRows:
    """The widgets of one group of `cls`'s settings, added as rows of `form`.

    `on_edit(name)` runs whenever the user (or code, unless signals are blocked) changes a
    widget; `values()` and `set_values()` read and fill them as config field values.
    """

    def __init__(
        self,
        cls: type,
        group: str,
        form: QFormLayout,
        on_edit: Callable[[str], None],
    ) -> None:
        self.fields = {field.name: field for field in settings_of(cls, group)}
        self.widgets: dict[str, QWidget] = {}
        for field in self.fields.values():
            widget = make_widget(field)
            _connect(widget, lambda *_args, name=field.name: on_edit(name))
            self.widgets[field.name] = widget
            if isinstance(widget, QCheckBox):
                form.addRow(widget)  # the check box carries its label
            else:
                form.addRow(field.setting.label, widget)

    def values(self) -> dict[str, Any]:
        """Field name -> the value its widget shows, as the config field holds it."""
        return {name: read_widget(self.fields[name], w) for name, w in self.widgets.items()}

    def set_values(self, config: Any) -> None:
        """Show `config`'s values (the caller blocks signals if edits should not fire)."""
        for name, widget in self.widgets.items():
            write_widget(self.fields[name], widget, getattr(config, name))


def make_widget(field: SettingField) -> QWidget:
    """The plain Qt widget that edits `field`, its default shown."""
    declared = field.setting
    if field.kind is bool:
        widget: QWidget = QCheckBox(declared.label)
    elif declared.choices is not None:
        widget = QComboBox()
        widget.addItems(list(declared.choices))
    elif field.kind is int:
        widget = QSpinBox()
        widget.setRange(_bound(declared.minimum, -SPIN_LIMIT), _bound(declared.maximum, SPIN_LIMIT))
    elif field.kind is float:
        widget = QDoubleSpinBox(decimals=declared.decimals if declared.decimals is not None else 3)
        low, high = declared.minimum, declared.maximum
        widget.setRange(-1e9 if low is None else low, 1e9 if high is None else high)
        if declared.step is not None:
            widget.setSingleStep(declared.step)
    else:
        widget = QLineEdit()
        widget.setPlaceholderText(declared.none_text if field.optional else "")
    if declared.min_text and isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.setSpecialValueText(declared.min_text)  # shown at the minimum
    widget.setObjectName(field.widget_name())
    widget.setToolTip(declared.help)
    write_widget(field, widget, field.default)
    return widget


def read_widget(field: SettingField, widget: QWidget) -> Any:
    """The widget's value as the config field holds it."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        value = widget.value()
        if field.optional and value == widget.minimum():
            return None  # the minimum of a `float | None` setting means off
        return value
    assert isinstance(widget, QLineEdit), widget  # build_widget's only other kind
    text = widget.text().strip()
    if field.kind is tuple:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        return names or None
    return text or (None if field.optional else "")


def write_widget(field: SettingField, widget: QWidget, value: Any) -> None:
    """Show `value` (None shows as the minimum of a number, as empty text)."""
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(widget.minimum() if value is None else int(value))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(widget.minimum() if value is None else float(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(",".join(value) if isinstance(value, tuple) else (value or ""))


def _connect(widget: QWidget, slot: Callable[..., None]) -> None:
    if isinstance(widget, QCheckBox):
        widget.toggled.connect(slot)
    elif isinstance(widget, QComboBox):
        widget.currentTextChanged.connect(slot)
    elif isinstance(widget, QSpinBox | QDoubleSpinBox):
        widget.valueChanged.connect(slot)
    elif isinstance(widget, QLineEdit):
        widget.textChanged.connect(slot)


def _bound(value: float | None, fallback: int) -> int:
    return fallback if value is None else int(max(-SPIN_LIMIT, min(SPIN_LIMIT, value)))
