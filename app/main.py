"""Entry point of the desktop app (placeholder until the GUI issue lands)."""

import sys


def main() -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv)
    label = QLabel("RLHF Studio")
    label.show()
    return app.exec()
