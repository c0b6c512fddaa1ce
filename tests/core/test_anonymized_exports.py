"""`export --anonymize` names no one in any layout of the formats it applies to, even with a
person's resolution among the pairs; the formats it does not apply to name no one at all."""

from __future__ import annotations

import pytest

from core.cli import main
from core.rating.resolutions import settle
from core.store import Store

NAMES = ("Alice Smith", "Bob Jones", "Zed Resolver")


@pytest.fixture
def named_workspace(workspace):
    with Store.open(workspace) as store:
        [q1, q2] = store.add_prompts(["Review one:", "Review two:"])
        a, b = (store.add_generation(q1, text, "demo") for text in ("Fine.", "Great fun!"))
        c, d = (store.add_generation(q2, text, "demo") for text in ("Dull.", "Lovely."))
        store.add_comparison(q1, a, b, "left", NAMES[0], note="Alice thinks so")
        store.add_comparison(q1, a, b, "right", NAMES[1])
        store.add_comparison(q2, c, d, "right", NAMES[0])
        settle(store, a, b, "B", NAMES[2], note="Zed decided")
        store.add_rating(b, 1.0, NAMES[1], note="Bob Jones liked it")
    return workspace


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "ratings", "--anonymize"],
        ["--format", "pairs", "--anonymize"],
        ["--format", "pairs", "--anonymize", "--layout", "conversational"],
        ["--format", "pairs", "--anonymize", "--source", "human"],
        ["--format", "kto"],
        ["--format", "kto", "--layout", "conversational"],
    ],
)
def test_exports_carry_no_names(named_workspace, tmp_path, capsys, args):
    out = tmp_path / "out.jsonl"
    assert main(["export", *args, "--out", str(out), "--workspace", str(named_workspace)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.strip()
    for name in NAMES:
        for part in name.split():
            assert part not in text
    captured = capsys.readouterr()
    assert not any(name in captured.out + captured.err for name in NAMES)
