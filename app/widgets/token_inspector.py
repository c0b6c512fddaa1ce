"""The token inspector: one completion, each token coloured by its KL or its advantage.

Shows a core.inspection.Inspection: the completion as coloured tokens (hover one for its
numbers and the top-5 next tokens under policy and reference), the same numbers as a
table, and for PPO a lambda slider that recomputes the advantages between one-step TD
(0) and Monte Carlo (1), so the bias/variance trade-off of GAE can be seen. Pure view:
the inspection is computed in a worker (app/jobs/inspect.py).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QCursor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.algorithms import INSPECTOR_NOTES, OFFLINE_INSPECTOR_NOTE
from app.widgets.common import named, wrapping_label

if TYPE_CHECKING:  # core.inspection imports torch: the GUI starts without it
    from core.inspection import Inspection, TokenRow

COLOUR_BY = ("KL", "Advantage")


class TokenInspector(QWidget):
    """Shows one Inspection; `show_inspection` replaces what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tokenInspector")
        self.inspection: Inspection | None = None
        self._shown: Inspection | None = None  # with the slider's lambda
        self.summary = wrapping_label("inspectorSummary")
        self.colour_combo = named(QComboBox(), "colourByCombo")
        self.colour_combo.addItems(COLOUR_BY)
        self.colour_combo.setToolTip(
            "Colour each token by its KL to the reference or by its advantage"
        )
        self.colour_combo.currentIndexChanged.connect(self._render)
        self.lambda_slider = named(QSlider(Qt.Orientation.Horizontal), "lambdaSlider")
        self.lambda_slider.setRange(0, 100)
        self.lambda_slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # no stray wheel edits
        self.lambda_slider.setToolTip(
            "GAE lambda: 0 = one-step TD (low variance, biased by the critic), 1 = Monte "
            "Carlo (unbiased, noisy). The advantages are recomputed from the same rewards "
            "and values."
        )
        self.lambda_slider.valueChanged.connect(self._on_lambda)
        self.lambda_label = named(QLabel(), "lambdaLabel")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Colour by"))
        controls.addWidget(self.colour_combo)
        controls.addSpacing(16)
        controls.addWidget(self.lambda_label)
        controls.addWidget(self.lambda_slider, 1)
        self.token_view = named(QTextBrowser(), "tokenView")
        self.token_view.setOpenLinks(False)
        self.token_view.highlighted.connect(self._on_hover)
        self.token_view.setMinimumHeight(90)
        self.table = named(QTableWidget(0, 0), "tokenTable")
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.explained = wrapping_label("inspectorExplained")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(controls)
        layout.addWidget(self.token_view, 1)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.explained)

    def show_inspection(self, inspection: Inspection) -> None:
        self.inspection = self._shown = inspection
        ppo = inspection.gamma is not None  # a critic: GAE and its lambda
        self.lambda_slider.setVisible(ppo)
        self.lambda_label.setVisible(ppo)
        if ppo:
            self.lambda_slider.blockSignals(True)
            self.lambda_slider.setValue(round((inspection.lam or 0.0) * 100))
            self.lambda_slider.blockSignals(False)
        self.explained.setText(INSPECTOR_NOTES.get(inspection.kind, OFFLINE_INSPECTOR_NOTE))
        self._render()

    # ------------------------------------------------------------------ drawing

    def _on_lambda(self, value: int) -> None:
        if self.inspection is not None:
            self._shown = self.inspection.with_lambda(value / 100)
            self._render()

    def _render(self) -> None:
        shown = self._shown
        if shown is None:
            return
        self.lambda_label.setText(f"GAE lambda {self.lambda_slider.value() / 100:.2f}")
        self.summary.setText(_summary(shown))
        by_kl = self.colour_combo.currentText() == "KL" or _no_advantage(shown)
        values = [row.kl if by_kl else _credit(row) for row in shown.tokens]
        scale = max((abs(v) for v in values if math.isfinite(v)), default=0.0) or 1.0
        spans = [
            f'<a href="tok:{i}" style="text-decoration:none;color:inherit">'
            f'<span style="background-color:{_colour(v / scale, by_kl)}">'
            f"{_visible(row.token)}</span></a>"
            for i, (row, v) in enumerate(zip(shown.tokens, values, strict=True))
        ]
        text_colour = self.palette().color(QPalette.ColorRole.Text).name()  # light or dark
        spans = [span.replace("color:inherit", f"color:{text_colour}") for span in spans]
        prompt = html.escape(shown.prompt)
        self.token_view.setHtml(f'<p style="font-size:13pt"><i>{prompt}</i>{"".join(spans)}</p>')
        self._fill_table(shown)

    def _fill_table(self, shown: Inspection) -> None:
        columns = ["token", "log p", "log p ref", "KL"]
        if shown.gamma is not None:
            columns += ["value", "reward", "advantage", "return"]
        elif shown.advantage is not None:
            columns += ["advantage"]
        else:
            columns += ["implicit reward"]
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(shown.tokens))
        for r, row in enumerate(shown.tokens):
            cells = [repr(row.token), row.logprob, row.ref_logprob, row.kl]
            if shown.gamma is not None:
                cells += [row.value, row.reward, row.advantage, row.returns]
            elif shown.advantage is not None:
                cells += [row.advantage]
            else:
                cells += [row.reward]
            for c, cell in enumerate(cells):
                text = cell if isinstance(cell, str) else f"{cell:.4f}"
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, c, item)

    def _on_hover(self, url: QUrl) -> None:
        """The hover card: one token's numbers and the top-5 next tokens."""
        if self._shown is None or not url.toString().startswith("tok:"):
            QToolTip.hideText()
            return
        row = self._shown.tokens[int(url.toString()[4:])]
        QToolTip.showText(QCursor.pos(), hover_card(row), self.token_view)


def hover_card(row: TokenRow) -> str:
    """The numbers of one token, as rich text."""
    lines = [
        f"<b>{html.escape(repr(row.token))}</b>",
        f"log p {row.logprob:.3f} · ref {row.ref_logprob:.3f} · KL {row.kl:+.4f}",
    ]
    if row.value is not None:
        lines.append(f"value {row.value:.3f} · reward {row.reward:+.4f}")
        lines.append(f"advantage {row.advantage:+.4f} · return {row.returns:.3f}")
    elif row.advantage is not None:
        lines.append(f"advantage {row.advantage:+.4f}")
    elif row.reward is not None:
        lines.append(f"implicit reward {row.reward:+.4f}")
    if row.top:
        lines.append("<u>most likely here</u> (policy / reference):")
        lines += [
            f"{html.escape(repr(t['token']))}: {t['logprob']:.2f} / {t['ref_logprob']:.2f}"
            for t in row.top
        ]
    return "<br>".join(lines)


def _summary(shown: Inspection) -> str:
    parts = [f"{shown.kind.upper()} checkpoint, step {shown.step}", f"KL {shown.kl:.4f} nats"]
    if math.isfinite(shown.reward):
        parts.append(f"reward {shown.reward:.4f}")
    if shown.advantage is not None:
        parts.append(f"group advantage {shown.advantage:+.4f}")
    if shown.kl_coef is not None:
        parts.append(f"KL coefficient {shown.kl_coef:.4f}")
    if not shown.finished:
        parts.append("cut off at the length limit")
    return " · ".join(parts)


def _no_advantage(shown: Inspection) -> bool:
    return shown.gamma is None and shown.advantage is None and not shown.tokens


def _credit(row: TokenRow) -> float:
    """What 'Advantage' colours: the advantage, or for offline kinds the implicit reward."""
    if row.advantage is not None:
        return row.advantage
    return row.reward if row.reward is not None else 0.0


def _colour(x: float, by_kl: bool) -> str:
    """A translucent background, readable under light and dark text: KL away from the
    reference in orange (negative in blue), advantage green (negative red)."""
    alpha = min(abs(x), 1.0) * 0.75
    if by_kl:
        rgb = "255,140,0" if x >= 0 else "70,130,255"
    else:
        rgb = "40,180,80" if x >= 0 else "230,60,60"
    return f"rgba({rgb},{alpha:.2f})"


def _visible(token: str) -> str:
    """The token as HTML, its spaces and line breaks visible."""
    return html.escape(token).replace(" ", "&nbsp;").replace("\n", "⏎<br>")
