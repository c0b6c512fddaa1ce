"""The screenshot tour's camera: grabs the window at each size in each theme and writes
`<page>-<W>x<H>-<theme>.png`, palette-compressed when Pillow is installed (the
development lock has it) so that the docs' screenshots stay small."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

PALETTE_COLOURS = 256
"""Colours kept per screenshot: flat UI colours and anti-aliased text read the same with
256, at about a third of the file size."""


def shot_name(page: str, size: tuple[int, int], theme: str) -> str:
    """`train-1280x800-dark.png`."""
    return f"{page}-{size[0]}x{size[1]}-{theme}.png"


def parse_size(text: str) -> tuple[int, int]:
    """'1280x800' -> (1280, 800); argparse's error otherwise."""
    try:
        width, height = (int(number) for number in text.lower().split("x"))
    except ValueError:
        message = f"{text!r}: give each size as WIDTHxHEIGHT, e.g. 1280x800"
        raise argparse.ArgumentTypeError(message) from None
    return width, height


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'1280x800,1920x1080' -> ((1280, 800), (1920, 1080)); argparse's error otherwise."""
    return tuple(parse_size(part) for part in text.split(","))


def settle(app, seconds: float = 0.4) -> None:
    """Let timers (plot redraws, reflows) and paints run for a moment."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


class Camera:
    """Shoots pages of one window at every (size, theme); `shots` lists the files."""

    def __init__(
        self, app, window, out: Path, sizes: Sequence[tuple[int, int]], themes: Sequence[str]
    ) -> None:
        self.app, self.window, self.out = app, window, out
        self.sizes, self.themes = tuple(sizes), tuple(themes)
        self.shots: list[Path] = []

    def settle(self, seconds: float = 0.4) -> None:
        """Let timers (plot redraws, reflows) and paints run for a moment."""
        settle(self.app, seconds)

    def shoot(self, name: str, page) -> None:
        """Save `page` (shown in the window) at every size and theme, then go back to the
        first size and theme, where the tour goes on."""
        window = self.window
        window.show_page(page)
        for theme in self.themes:
            self._set_theme(theme)
            for size in self.sizes:
                window.resize(*size)
                self.settle(0.8)
                path = self.out / shot_name(name, size, theme)
                save_png(window.grab().toImage(), path)
                self.shots.append(path)
        self._set_theme(self.themes[0])
        window.resize(*self.sizes[0])
        self.settle(0.2)

    def _set_theme(self, theme: str) -> None:
        if self.window.state.setting("ui/theme") != theme:
            self.window.state.set_setting("ui/theme", theme)
            self.window._apply_theme()  # as the Settings dialog does: restyled live


def save_png(image, path: Path) -> None:
    """Write a QImage as PNG, with a 256-colour palette when Pillow is there (no dither:
    dithered text looks grainy)."""
    try:
        from PIL import Image
    except ImportError:
        image.save(str(path), "PNG")
        return
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    picture = Image.frombuffer(
        "RGB", (rgb.width(), rgb.height()), bytes(rgb.constBits()), "raw", "RGB",
        rgb.bytesPerLine(), 1,
    )  # fmt: skip
    picture = picture.quantize(
        PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    picture.save(path, optimize=True)
