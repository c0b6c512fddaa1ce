"""The pinned PySide6 keeps Python's reference counts: PySide6-Essentials 6.12.0 dropped a
reference to None on every call of a Qt method returning nothing (Python 3.11's None is
not immortal), so after enough repaints and setText calls the interpreter died with
"Fatal Python error: none_dealloc", in the test suite and in long GUI sessions."""

import sys

from PySide6.QtWidgets import QLabel


def test_calls_returning_nothing_keep_nones_reference_count(qtbot):
    label = QLabel("x")
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.repaint()
        label.setText("y")
    # Other threads may hold or drop a few references meanwhile; a leak is 2000.
    assert abs(sys.getrefcount(None) - before) < 100
