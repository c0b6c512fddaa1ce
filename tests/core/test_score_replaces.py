"""Scoring again replaces: one score per generation per source, as `score --help` says."""

from core.cli import main
from core.rewards.scoring import score_generations
from core.store import Store


def _generations(store):
    [prompt_id] = store.add_prompts(["Review:"])
    return [
        store.add_generation(prompt_id, text, "demo")
        for text in ("Great fun.", "Bad", "Okay it was")
    ]


def test_add_score_again_replaces_the_sources_score(workspace):
    with Store.open(workspace) as store:
        first, second, _ = _generations(store)
        store.add_score(first, "vader", 0.1)
        store.add_score(first, "length=3", 1.0)
        store.add_score(first, "vader", 0.7, {"compound": 0.7})
        store.add_score(second, "vader", -0.2)
        rows = [(s.generation_id, s.source, s.value, s.detail) for s in store.scores()]
        assert sorted(rows) == [
            (first, "length=3", 1.0, None),
            (first, "vader", 0.7, {"compound": 0.7}),
            (second, "vader", -0.2, None),
        ]


def test_scoring_twice_keeps_one_row_per_generation_per_source(workspace):
    with Store.open(workspace) as store:
        _generations(store)
        generations = store.generations()
        for _ in range(2):
            score_generations(store, ["length=2", "contains=fun"], generations)
        assert len(store.scores()) == 2 * len(generations)
        pairs = {(s.generation_id, s.source) for s in store.scores()}
        assert len(pairs) == len(store.scores())


def test_the_score_command_twice_stores_one_score_per_source(workspace, capsys):
    with Store.open(workspace) as store:
        _generations(store)
    argv = ["score", "--reward", "length=3", "--workspace", str(workspace)]
    assert main(argv) == 0
    assert main(argv) == 0
    capsys.readouterr()
    with Store.open(workspace) as store:
        assert [s.source for s in store.scores()] == ["length=3"] * 3
