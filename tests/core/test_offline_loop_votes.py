"""The DPO loop's round rated by a person, headless: a blind vote's win-rate is read back
from the stored comparisons whichever side the adapter's answer was shown on, and is
noted on the round afterwards."""

import pytest

from core.offline.loop import (
    ROUND_KIND,
    human_win_rate,
    rated_pairs,
    record_round,
    rounds,
    set_round_win_rate,
)
from core.store import Store


def test_the_win_rate_counts_the_adapters_side_ties_a_half(workspace):
    with Store.open(workspace) as store:
        prompts = store.add_prompts([f"P{i}" for i in range(5)])
        pairs = []
        for prompt_id in prompts:
            tuned = store.add_generation(prompt_id, "tuned", "m", "run-1/step-3")
            base = store.add_generation(prompt_id, "base", "m", None)
            pairs.append((prompt_id, tuned, base))
        assert human_win_rate(store, pairs) == (None, 0) and rated_pairs(store, pairs) == 0
        votes = [  # (left shown, right shown, verdict): what the person picked
            ("tuned", "base", "left"),  # adapter
            ("base", "tuned", "right"),  # adapter, shown on the right
            ("base", "tuned", "left"),  # base
            ("tuned", "base", "tie"),  # a half
        ]
        for (prompt_id, tuned, base), (left, _right, verdict) in zip(pairs, votes, strict=False):
            ids = (tuned, base) if left == "tuned" else (base, tuned)
            store.add_comparison(prompt_id, *ids, verdict, "ann", swapped=left == "base")
        store.add_comparison(pairs[4][0], pairs[4][1], pairs[4][2], "left", "ai:judge")
        # The AI judge's vote is not the person's: 4 of 5 rated.
        assert rated_pairs(store, pairs) == 4
        assert human_win_rate(store, pairs) == (pytest.approx(2.5 / 4), 4)

        record = record_round(store, 7, 12, "ann", None, 0.75, "/w/run-1/step-3/adapter")
        assert rounds(store)[0].win_rate is None
        updated = set_round_win_rate(store, record.round_run_id, 0.625, "ann", 4)
        assert updated.win_rate == 0.625 and updated.held_out_accuracy == 0.75
        assert rounds(store) == [updated]
        config = store.runs(ROUND_KIND)[0].config
        assert (config["win_rate_by"], config["win_rate_votes"]) == ("ann", 4)
