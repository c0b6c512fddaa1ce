"""A build made one piece per call, so that no single event-loop turn makes all of it.

The builder is a generator that yields after each piece (a page's settings column, one
plot); `step()` makes the next piece. The window's page stack calls it once per turn
(app/page_stack.py), and anything that needs the whole widget calls `finish()` first.
"""

from __future__ import annotations

from collections.abc import Iterator

_DONE = object()


class PieceByPiece:
    """Steps through a generator of pieces; whole once it is exhausted."""

    def __init__(self, pieces: Iterator[None]) -> None:
        self._pieces: Iterator[None] | None = pieces

    def step(self) -> bool:
        """Make the next piece; False once whole (nothing was left to make)."""
        if self._pieces is None:
            return False
        if next(self._pieces, _DONE) is _DONE:
            self._pieces = None
            return False
        return True

    def finish(self) -> None:
        """Make every piece not made yet, now."""
        while self.step():
            pass

    @property
    def whole(self) -> bool:
        return self._pieces is None
