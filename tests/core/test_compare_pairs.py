"""app/compare_pairs.py: what a vote reveals and the per-recipe tally, as plain data."""

from app.compare_pairs import Pair, recipe_tally
from app.jobs.model import SideCompletion


def pair(verdict, swapped, temperature=1.0):
    sides = [
        SideCompletion("Base", "meh", 0, {"temperature": temperature}, None),
        SideCompletion("Tuned", "great!", 0, {"temperature": temperature}, "run-1/step-3"),
    ]
    return Pair(1, "The film was", sides, [10, 11], swapped=swapped, verdict=verdict)


def test_the_winner_follows_the_side_order_and_the_vote():
    assert pair("right", swapped=False).winner() == "Tuned, T=1.0"
    assert pair("right", swapped=True).winner() == "Base, T=1.0"
    assert pair("tie", swapped=False).winner() is None
    assert pair(None, swapped=False).winner() is None


def test_tally_counts_wins_per_recipe_with_zero_wins_shown():
    pairs = [pair("right", False), pair("left", True), pair("tie", False), pair(None, True),
             pair("both_bad", False)]  # fmt: skip
    assert recipe_tally(pairs) == (
        "4 votes this session: Base, T=1.0 won <b>0</b> · Tuned, T=1.0 won <b>2</b> · "
        "ties 1 · both bad 1"
    )
    assert recipe_tally([pair(None, False)]) == ""
