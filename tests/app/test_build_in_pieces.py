"""PieceByPiece: one piece per step, whole once the builder is exhausted."""

from __future__ import annotations

from app.build_in_pieces import PieceByPiece


def _builder(made: list[int], pieces: int):
    for piece in range(pieces):
        made.append(piece)
        yield


def test_each_step_makes_one_piece_until_whole():
    made: list[int] = []
    build = PieceByPiece(_builder(made, 3))
    assert not build.whole and made == []
    assert build.step() and made == [0]
    assert build.step() and build.step() and made == [0, 1, 2]
    assert not build.whole  # the builder has not said it is done yet
    assert not build.step() and build.whole
    assert not build.step() and made == [0, 1, 2]  # nothing more, ever


def test_finish_makes_what_is_left_at_once():
    made: list[int] = []
    build = PieceByPiece(_builder(made, 4))
    build.step()
    build.finish()
    assert made == [0, 1, 2, 3] and build.whole
