"""The Train page's tabs under the dashboard: the latest rollouts, the held-out answers
and "try the policy" for an on-policy run; for a run from stored feedback (DPO, KTO, SFT…),
which samples nothing while it trains, a note saying so and where to read the policy's
answers instead of two tables that would stay empty."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QWidget

OFFLINE_TAB = "No rollouts"


def offline_note_text(label: str, data: str) -> str:
    """What a run from stored feedback shows where an on-policy run shows its rollouts."""
    learns = f" It learns from {data}." if data else ""
    return (
        f"{label} trains on stored examples: it samples no answers while it trains, so "
        f"there are no rollouts to show.{learns}\n\n"
        "Its held-out figures are the dots on the plots above. To read what the policy "
        "writes now, pause the run and use the tab “Try the policy”, or, once it ends, "
        "open its checkpoint on Compare & Rate."
    )


class OfflineNote(QLabel):
    """The note a run from stored feedback shows in place of its rollouts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("offlineRolloutsNote")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setMargin(12)


def show_tabs_for(tabs: QTabWidget, tables: tuple[QWidget, ...], note: OfflineNote, choice) -> None:
    """The tabs of `choice`'s runs: the rollout `tables` on-policy, `note` offline (the
    current tab moved off a hidden one)."""
    offline = choice.offline
    current = tabs.currentWidget()  # before hiding: QTabWidget moves off a hidden tab
    if offline:
        note.setText(offline_note_text(choice.label, choice.data))
    for table in tables:
        tabs.setTabVisible(tabs.indexOf(table), not offline)
    tabs.setTabVisible(tabs.indexOf(note), offline)
    if current is note or any(current is table for table in tables):
        tabs.setCurrentWidget(note if offline else tables[0])
