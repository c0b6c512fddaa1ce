"""Prompts page: the built-in set, import with errors naming the line, add/edit/delete."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget

from tests.test_app_support import click, error_dialogs, window_fixture  # noqa: F401 (fixtures)


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
