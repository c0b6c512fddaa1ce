"""Render the SVG app icon to a square PNG with Qt (no image tools needed at build time).

    python packaging/render_icon.py resources/icons/app.svg out.png 256

PyInstaller turns the PNG into .ico (Windows) or .icns (macOS) when Pillow is installed;
the Linux desktop entry uses the SVG and this PNG.
"""

import os
import sys
from pathlib import Path


def render(svg: Path, png: Path, size: int) -> None:
    """Draw `svg` on a transparent size x size image and save it as `png`."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # fonts need an application
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icon: {svg} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    png.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(png)):
        raise SystemExit(f"render_icon: cannot write {png}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    render(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
