"""The screenshot tour (python -m app.screenshot_tour) drives the whole demo loop and saves
one PNG per page; docs/screenshots/ are made with it."""

from __future__ import annotations

from PySide6.QtGui import QImage

from app.screenshot_tour import PAGES, run_tour


def test_tour_saves_a_screenshot_of_every_page(qtbot, tmp_path):
    shots = run_tour(tmp_path, steps=2, quick=True)
    assert sorted(path.stem for path in shots) == sorted(PAGES)
    for path in shots:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1440, 900), path
        # Not blank: a real page has many colours.
        colours = {image.pixel(x, y) for x in range(0, 1440, 37) for y in range(0, 900, 29)}
        assert len(colours) > 5, path
