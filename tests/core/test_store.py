"""The SQLite store: schema, migrations, prompts, generations and feedback round trips,
transactions, threads (runs: test_store_runs.py)."""

import math
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.errors import StudioError
from core.store import STORE_FILENAME, Store, schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(workspace):
    with Store.open(workspace) as opened:
        yield opened


def _pair(store, prompt="Write a review:"):
    """A prompt with two generations: (prompt_id, left_id, right_id)."""
    [prompt_id] = store.add_prompts([prompt])
    left = store.add_generation(prompt_id, "Great film.", "demo", None, {"temperature": 1.0}, 1)
    right = store.add_generation(prompt_id, "Awful film.", "demo", None, {"temperature": 1.0}, 2)
    return prompt_id, left, right


# ------------------------------------------------------------------ the file


def test_open_creates_a_wal_store_with_foreign_keys_at_the_current_version(tmp_path):
    workspace = tmp_path / "new" / "workspace"
    with Store.open(workspace) as store:
        assert store.path == workspace / STORE_FILENAME
        assert store.workspace == workspace
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert schema.schema_version(conn) == len(schema.MIGRATIONS) >= 1
    assert (workspace / STORE_FILENAME).is_file()


def test_reopening_keeps_the_data(workspace):
    with Store.open(workspace) as store:
        store.add_prompts(["kept"])
    with Store.open(workspace) as store:
        assert [row.text for row in store.prompts()] == ["kept"]


def test_a_workspace_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    with pytest.raises(StudioError, match="is a file"):
        Store.open(path)


def test_a_file_that_is_not_a_database_is_refused(workspace):
    (workspace / STORE_FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StudioError, match="not a readable RLHF Studio store"):
        Store.open(workspace)


# ---------------------------------------------------------------- migrations


def _add_tags_column(conn):
    conn.execute("ALTER TABLE prompts ADD COLUMN tags TEXT NOT NULL DEFAULT ''")


def test_an_old_store_is_migrated_in_order_when_opened(workspace, monkeypatch):
    with Store.open(workspace) as store:
        store.add_prompts(["from version 1"])
        current = schema.schema_version(store._conn)
        assert current == len(schema.MIGRATIONS)
    calls = []

    def migration_2(conn):
        calls.append(2)
        _add_tags_column(conn)

    def migration_3(conn):
        calls.append(3)
        conn.execute("UPDATE prompts SET tags = 'v3'")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, migration_2, migration_3])
    with Store.open(workspace) as store:
        assert schema.schema_version(store._conn) == current + 2
        assert store._conn.execute("SELECT text, tags FROM prompts").fetchall() == [
            ("from version 1", "v3")
        ]
        assert [row.text for row in store.prompts()] == ["from version 1"]
    assert calls == [2, 3]
    with Store.open(workspace):  # already current: nothing runs again
        assert calls == [2, 3]


def test_a_failing_migration_leaves_the_store_untouched(workspace, monkeypatch):
    with Store.open(workspace) as store:
        store.add_prompts(["safe"])

    def broken(conn):
        _add_tags_column(conn)
        raise RuntimeError("bug in migration")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="bug in migration"):
        Store.open(workspace)
    conn = sqlite3.connect(workspace / STORE_FILENAME)
    try:
        unchanged = len(schema.MIGRATIONS) - 1  # the shipped ones; `broken` never applied
        assert conn.execute("PRAGMA user_version").fetchone()[0] == unchanged
        columns = [row[1] for row in conn.execute("PRAGMA table_info(prompts)")]
        assert "tags" not in columns
        assert conn.execute("SELECT text FROM prompts").fetchall() == [("safe",)]
    finally:
        conn.close()


def test_a_version_1_store_keeps_its_samples_as_training_rollouts(workspace):
    """Migration 2 on a real version-1 file: its samples become the "train" split."""
    path = workspace / STORE_FILENAME
    conn = sqlite3.connect(path, isolation_level=None)
    schema.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (kind, name, config, status, created, updated) "
                 "VALUES ('ppo', 'old', '{}', 'finished', 'now', 'now')")  # fmt: skip
    conn.execute("INSERT INTO samples (run_id, step, prompt, response, reward, reference, "
                 "created) VALUES (1, 1, 'p', 'r', 0.5, NULL, 'now')")  # fmt: skip
    conn.close()
    with Store.open(workspace) as store:
        assert schema.schema_version(store._conn) == len(schema.MIGRATIONS)
        assert [s["split"] for s in store.samples(1)] == ["train"]
        assert store.samples(1, split="eval") == []


def test_a_store_from_a_newer_app_is_refused_with_upgrade_advice(workspace):
    Store.open(workspace).close()
    conn = sqlite3.connect(workspace / STORE_FILENAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StudioError, match="upgrade the app") as error:
        Store.open(workspace)
    assert "99" in str(error.value)


# ------------------------------------------------------------------- prompts


def test_prompts_sets_references_update_and_delete(store):
    ids = store.add_prompts(["one", "two"], set_name="reviews", references=["ref one", None])
    store.add_prompts(["three"])
    assert store.prompt_sets() == ["default", "reviews"]
    rows = store.prompts("reviews")
    assert [(r.id, r.text, r.set_name, r.reference) for r in rows] == [
        (ids[0], "one", "reviews", "ref one"),
        (ids[1], "two", "reviews", None),
    ]
    assert len(store.prompts()) == 3
    store.update_prompt(ids[1], "two, edited")
    assert store.prompt(ids[1]).text == "two, edited"
    store.delete_prompt(ids[0])
    assert [r.text for r in store.prompts("reviews")] == ["two, edited"]
    with pytest.raises(StudioError, match=f"no prompt with id {ids[0]}"):
        store.update_prompt(ids[0], "gone")


def test_add_prompts_is_all_or_nothing(store):
    with pytest.raises(StudioError, match="empty"):
        store.add_prompts(["fine", "   "])
    with pytest.raises(StudioError, match="needs a name"):
        store.add_prompts(["fine"], set_name=" ")
    with pytest.raises(ValueError, match="references"):
        store.add_prompts(["a", "b"], references=["only one"])
    assert store.prompts() == []


def test_deleting_a_prompt_deletes_what_was_built_on_it(store):
    prompt_id, left, right = _pair(store)
    store.add_comparison(prompt_id, left, right, "left", "alice")
    store.add_rating(left, 4, "alice")
    store.add_score(left, "vader", 0.5)
    assert store.prompt_usage(prompt_id) == {"generations": 2, "comparisons": 1, "ratings": 1}
    store.delete_prompt(prompt_id)
    assert store.counts() == {
        "prompts": 0,
        "generations": 0,
        "comparisons": 0,
        "ratings": 0,
        "scores": 0,
        "runs": 0,
    }


# --------------------------------------------------------------- generations


def test_generations_round_trip(store):
    [prompt_id] = store.add_prompts(["Tell me"])
    params = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 16}
    gen_id = store.add_generation(prompt_id, "a story", "gpt2", "ckpt/step-10", params, 42)
    row = store.generation(gen_id)
    assert (row.prompt_id, row.prompt, row.text, row.model) == (
        prompt_id,
        "Tell me",
        "a story",
        "gpt2",
    )
    assert (row.adapter, row.params, row.seed) == ("ckpt/step-10", params, 42)
    assert row.created.endswith("+00:00")
    bare = store.add_generation(prompt_id, "again", "gpt2", None, {}, None)
    assert [g.id for g in store.generations(prompt_id)] == [gen_id, bare]
    assert store.generation(bare).adapter is None and store.generation(bare).seed is None
    with pytest.raises(StudioError, match="no generation with id 999"):
        store.generation(999)
    with pytest.raises(StudioError, match="no prompt with id 999"):
        store.add_generation(999, "orphan", "gpt2", None, {}, None)


# ------------------------------------------------------------------ feedback


def test_comparisons_carry_texts_and_split_by_source(store):
    prompt_id, left, right = _pair(store)
    human = store.add_comparison(
        prompt_id, left, right, "left", "alice", note="clearer", swapped=True
    )
    ai = store.add_comparison(
        prompt_id, left, right, "right", "ai:judge-1", soft_label=0.25, detail={"votes": [0, 1]}
    )
    [row] = store.comparisons("human")
    assert (row.id, row.prompt, row.left_text, row.right_text) == (
        human,
        "Write a review:",
        "Great film.",
        "Awful film.",
    )
    assert (row.verdict, row.rater, row.note, row.swapped, row.is_ai) == (
        "left",
        "alice",
        "clearer",
        True,
        False,
    )
    [row] = store.comparisons("ai")
    assert (row.id, row.is_ai, row.soft_label, row.detail, row.swapped) == (
        ai,
        True,
        0.25,
        {"votes": [0, 1]},
        None,
    )
    assert [r.id for r in store.comparisons()] == [human, ai]
    with pytest.raises(ValueError, match="source"):
        store.comparisons("robots")


def test_bad_comparisons_are_refused(store):
    prompt_id, left, right = _pair(store)
    other_prompt, other_left, _ = _pair(store, "Another prompt")
    with pytest.raises(ValueError, match="verdict"):
        store.add_comparison(prompt_id, left, right, "better", "alice")
    with pytest.raises(ValueError, match="two different"):
        store.add_comparison(prompt_id, left, left, "tie", "alice")
    with pytest.raises(ValueError, match="probability"):
        store.add_comparison(prompt_id, left, right, "left", "ai:j", soft_label=1.5)
    with pytest.raises(ValueError, match="rater"):
        store.add_comparison(prompt_id, left, right, "left", "ai:")
    with pytest.raises(StudioError, match="same prompt"):
        store.add_comparison(prompt_id, left, other_left, "left", "alice")
    with pytest.raises(StudioError, match="no generation with id 999"):
        store.add_comparison(prompt_id, left, 999, "left", "alice")
    assert store.comparisons() == []


def test_ratings_and_scores_round_trip(store):
    prompt_id, left, right = _pair(store)
    store.add_rating(left, 5, "alice", note="lovely")
    store.add_rating(right, 2.5, "ai:judge")
    human, ai = store.ratings()
    assert (human.prompt, human.response, human.value, human.note, human.is_ai) == (
        "Write a review:",
        "Great film.",
        5.0,
        "lovely",
        False,
    )
    assert (ai.response, ai.value, ai.is_ai) == ("Awful film.", 2.5, True)
    assert store.ratings("human") == [human] and store.ratings("ai") == [ai]
    with pytest.raises(ValueError, match="finite"):
        store.add_rating(left, math.nan, "alice")

    store.add_score(left, "vader", 0.8, {"compound": 0.8})
    store.add_score(right, "length", -1.0)
    assert [(s.source, s.value, s.detail) for s in store.scores(left)] == [
        ("vader", 0.8, {"compound": 0.8})
    ]
    assert [s.generation_id for s in store.scores()] == [left, right]
    with pytest.raises(StudioError, match="no generation"):
        store.add_score(12345, "vader", 0.1)


# -------------------------------------------------------------- transactions


def test_an_error_inside_a_write_rolls_the_whole_write_back(store):
    with pytest.raises(RuntimeError), store._transaction() as conn:
        conn.execute(
            "INSERT INTO prompts (text, set_name, created) VALUES ('half', 'default', 'now')"
        )
        raise RuntimeError("crash between two statements")
    assert store.prompts() == []
    store.add_prompts(["the next write works"])
    assert len(store.prompts()) == 1


_KILLED_WRITER = """
import sys
from pathlib import Path
from core.store import Store

store = Store.open(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    store.add_prompts([f"committed {i}"], set_name="committed")
with store._transaction() as conn:
    i = 0
    while True:  # a huge write that never commits: it spills into the WAL
        conn.execute(
            "INSERT INTO prompts (text, set_name, created) VALUES (?, 'partial', 'now')",
            ("x" * 200 + str(i),),
        )
        i += 1
        if i == 20000:
            print("inside the transaction", flush=True)
"""


def test_a_writer_killed_mid_transaction_loses_only_the_open_transaction(workspace):
    committed = 25
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(workspace), str(committed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "inside the transaction", process.stderr.read()
        time.sleep(0.3)  # let the open transaction grow further
        process.kill()  # SIGKILL: no cleanup, no rollback
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode != 0
    # The uncommitted rows did reach the disk (the WAL): recovery has to discard them.
    assert (workspace / f"{STORE_FILENAME}-wal").stat().st_size > 1_000_000
    with Store.open(workspace) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [row.text for row in store.prompts("committed")] == [
            f"committed {i}" for i in range(committed)
        ]
        assert store.prompts("partial") == []
        store.add_prompts(["after the crash"])
        assert len(store.prompts()) == committed + 1


# ------------------------------------------------------------------- threads


def test_a_reader_reads_while_another_connection_writes(workspace):
    with Store.open(workspace) as writer, Store.open(workspace) as reader:
        writer.add_prompts(["before"])
        with writer._transaction() as conn:
            conn.execute(
                "INSERT INTO prompts (text, set_name, created) VALUES ('during', 'default', 'now')"
            )
            # WAL: the reader is not blocked and sees only committed rows.
            assert [row.text for row in reader.prompts()] == ["before"]
        assert [row.text for row in reader.prompts()] == ["before", "during"]


def test_a_writer_thread_and_a_reader_thread_each_with_their_own_store(workspace):
    Store.open(workspace).close()
    with Store.open(workspace) as main_store:
        run_id = main_store.create_run("ppo", {})
    steps = 40
    errors = []

    def train():
        try:
            with Store.open(workspace) as store:
                for step in range(steps):
                    store.add_metrics(run_id, step, {"reward/mean": step / steps})
                    store.add_samples(run_id, step, [{"prompt": "p", "response": "r"}])
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    thread = threading.Thread(target=train)
    seen = []
    with Store.open(workspace) as gui_store:
        thread.start()
        while thread.is_alive():
            seen.append(len(gui_store.metrics(run_id)))
        thread.join()
        assert errors == []
        assert len(gui_store.metrics(run_id)) == steps
    assert seen == sorted(seen)  # steps only ever appear, whole


def test_a_store_cannot_be_used_from_another_thread(store):
    errors = []
    thread = threading.Thread(target=lambda: _capture(errors, store.prompts))
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def _capture(errors, function):
    try:
        function()
    except Exception as error:
        errors.append(error)
