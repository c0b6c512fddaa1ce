"""Prompts page: the built-in set, import with errors naming the line, add/edit/delete."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QPushButton

from tests.app.test_app_support import click, error_dialogs, window_fixture  # noqa: F401 (fixtures)


def _texts(window) -> list[str]:
    prompt_list = window.findChild(QListWidget, "promptList")
    return [prompt_list.item(i).text() for i in range(prompt_list.count())]


def test_new_workspace_starts_with_the_demo_prompt_set(window):
    assert window.state.store.prompt_sets() == ["demo"]
    assert "The movie was" in _texts(window)


def test_import_jsonl_and_csv_into_sets(window, tmp_path):
    page = window.prompts_page
    jsonl = tmp_path / "questions.jsonl"
    jsonl.write_text(
        '{"prompt": "Why is the sky blue?", "reference": "Rayleigh"}\n'
        '{"prompt": "Name a prime."}\n',
        encoding="utf-8",
    )
    page.import_file(jsonl)
    assert page.current_set() == "questions"
    assert _texts(window) == ["Why is the sky blue?", "Name a prime."]
    assert window.state.store.prompts("questions")[0].reference == "Rayleigh"
    csv = tmp_path / "more.csv"
    csv.write_text("prompt\nHello there\n", encoding="utf-8")
    page.import_file(csv, set_name="questions")
    assert "Hello there" in _texts(window)
    # Other pages see the new set.
    assert "questions" in [
        window.compare_page.set_combo.itemText(i)
        for i in range(window.compare_page.set_combo.count())
    ]


def test_import_error_names_the_line_and_imports_nothing(qtbot, window, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": 3}\n', encoding="utf-8")
    window.prompts_page.import_file(bad)
    qtbot.waitUntil(lambda: bool(error_dialogs(window)))
    assert "line 2" in error_dialogs(window)[0].text()
    assert "bad" not in window.state.store.prompt_sets()


def test_add_edit_and_delete_a_prompt(qtbot, window):
    page = window.prompts_page
    window.show_page(page)
    before = len(_texts(window))
    click(qtbot, window, "addPromptButton")
    prompt_list = window.findChild(QListWidget, "promptList")
    item = prompt_list.currentItem()
    assert item.text() == "New prompt" and len(_texts(window)) == before + 1
    item.setText("My own prompt")  # what an in-place edit commits
    prompt_id = item.data(Qt.ItemDataRole.UserRole)
    assert window.state.store.prompt(prompt_id).text == "My own prompt"
    click(qtbot, window, "deletePromptButton")
    assert "My own prompt" not in _texts(window)
    assert len(window.state.store.prompts("demo")) == before


def test_import_pairs_and_ratings_buttons_run_in_a_worker(qtbot, window, tmp_path):
    import json

    from tests.app.test_app_support import JOB_TIMEOUT_MS

    page = window.prompts_page
    window.show_page(page)
    for name in ("importPairsButton", "importRatingsButton"):
        assert window.findChild(QPushButton, name).isEnabled()
    pairs = tmp_path / "hh.jsonl"
    rows = [
        {"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."},
        {"prompt": [{"role": "user", "content": "Thanks"}],
         "chosen": [{"role": "assistant", "content": "You're welcome."}],
         "rejected": [{"role": "assistant", "content": "Whatever."}]},
        {"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."},
    ]  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    page.import_feedback_file(pairs, "pairs")
    assert not window.findChild(QPushButton, "importPairsButton").isEnabled()  # while it runs
    qtbot.waitUntil(lambda: page.count_label.text().startswith("Imported"), timeout=JOB_TIMEOUT_MS)
    assert page.count_label.text() == "Imported 2 pairs by hh, 1 duplicates skipped"
    assert page.current_set() == "hh" and _texts(window) == ["Say hi", "Thanks"]
    assert [c.rater for c in window.state.store.comparisons()] == ["hh", "hh"]
    assert window.findChild(QPushButton, "importPairsButton").isEnabled()

    ratings = tmp_path / "kto.jsonl"
    ratings.write_text('{"prompt": "Say hi", "completion": "Hi.", "label": true}\n')
    page.import_feedback_file(ratings, "ratings")
    qtbot.waitUntil(lambda: page.count_label.text().startswith("Imported 1 ratings"),
                    timeout=JOB_TIMEOUT_MS)  # fmt: skip
    assert [(r.response, r.value) for r in window.state.store.ratings()] == [("Hi.", 1.0)]


def test_a_bad_pairs_file_names_the_line_and_imports_nothing(qtbot, window, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    window.prompts_page.import_feedback_file(bad, "pairs")
    qtbot.waitUntil(lambda: bool(error_dialogs(window)))
    assert "line 2" in error_dialogs(window)[0].text()
    assert window.state.store.comparisons() == []
    qtbot.waitUntil(lambda: window.findChild(QPushButton, "importPairsButton").isEnabled())
