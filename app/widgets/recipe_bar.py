"""The two recipes of Compare & Rate: which weights and which temperature each side uses."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.jobs.model import Variant
from app.widgets.common import named
from core.config import GenerationConfig

BASE_VARIANTS = (
    ("Policy (adapter on)", True, None),
    ("Base model (adapter off)", False, None),
)
"""(label, use_adapter, adapter folder) of the recipes every session offers."""

PAIR_TITLE = "Recipes (hidden from the rater: sides are shuffled per pair)"
PAIR_BUTTON = "Generate pair  (G)"
SINGLE_TITLE = "Recipe of the answer (hidden from the rater until the thumb)"
SINGLE_BUTTON = "Generate answer  (G)"


class RecipeBar(QGroupBox):
    """Recipe A and B (weights + temperature), the length, and the Generate button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(PAIR_TITLE, parent)
        self.variant_combos: list[QComboBox] = []
        self._recipe_a: list[QWidget] = []  # recipe A's widgets, hidden for single answers
        self.temperature_spins: list[QDoubleSpinBox] = []
        row = QHBoxLayout(self)
        for name in ("A", "B"):
            combo = named(QComboBox(), f"variant{name}Combo")
            for label, use_adapter, path in BASE_VARIANTS:
                combo.addItem(label, (use_adapter, path))
            combo.setCurrentIndex(0 if name == "B" else 1)  # A: base, B: policy
            spin = named(
                QDoubleSpinBox(
                    decimals=2,
                    minimum=0.0,
                    maximum=5.0,
                    singleStep=0.1,
                    value=1.0,
                ),
                f"temperature{name}Spin",
            )
            spin.setToolTip("Sampling temperature of this side (0 = greedy).")
            self.variant_combos.append(combo)
            self.temperature_spins.append(spin)
            widgets = (QLabel(f"{name}:"), combo, QLabel("temp"), spin)
            for widget in widgets:
                row.addWidget(widget, 1 if widget is combo else 0)
            if name == "A":
                self._recipe_a.extend(widgets)
        self.length_spin = named(QSpinBox(minimum=1, maximum=2048, value=32), "compareLengthSpin")
        self.length_spin.setToolTip("Most new tokens per completion.")
        row.addWidget(QLabel("tokens"))
        row.addWidget(self.length_spin)
        self.generate_button = named(QPushButton(PAIR_BUTTON), "generatePairButton")
        row.addWidget(self.generate_button)

    def set_single_mode(self, single: bool) -> None:
        """Single answers come from recipe B alone: recipe A hides, the words follow."""
        for widget in self._recipe_a:
            widget.setVisible(not single)
        self.setTitle(SINGLE_TITLE if single else PAIR_TITLE)
        self.generate_button.setText(SINGLE_BUTTON if single else PAIR_BUTTON)

    def variants(self) -> list[Variant]:
        """Recipe A then recipe B."""
        variants = []
        for combo, spin in zip(self.variant_combos, self.temperature_spins, strict=True):
            use_adapter, path = combo.currentData()
            generation = GenerationConfig(
                max_new_tokens=self.length_spin.value(), temperature=spin.value()
            )
            variants.append(Variant(combo.currentText(), use_adapter, path, generation))
        return variants

    def add_checkpoint(self, label: str, adapter_path: str) -> None:
        """Offer a checkpoint as a recipe and put it on side B against the base on A."""
        for combo in self.variant_combos:
            if combo.findText(label) < 0:
                combo.addItem(label, (True, adapter_path))
        self.variant_combos[0].setCurrentIndex(1)  # base model
        self.variant_combos[1].setCurrentText(label)
