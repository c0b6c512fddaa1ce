"""A battery of bad inputs against the CLI: is each one a clean one-line error or warning?

    python -m bench.bad_inputs [--only SUBSTRING] [--list] [--timeout SECONDS]

Each case is a small function that makes one real fault in a temporary folder (a damaged
file, a foreign SQLite file, a pickled checkpoint, a nonsense flag...) and returns the
command line to run; the command runs as `python -m core ...` in a subprocess, on the demo
model. A case is clean when stderr holds no traceback and:

- `refuse`: the exit status is non-zero and one `error:` line (or argparse's
  `...: error: ...` line) says why;
- `warn`: the command may succeed, and a line on stderr or stdout matches the case's
  pattern (it said what it did);
- `ok`: the command succeeds (a fault it should take in its stride).

Prints one line per case (`clean` or `NOT CLEAN`, the exit status, the message) and
`clean=<n>/<total>` at the end. The cases needing a checkpoint share one PPO run made at
the start (about 15 s on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    """refuse | warn | ok"""
    build: Callable[[Path], list[str]]
    pattern: str = ""
    """For warn: a regular expression the output must match."""
    env: tuple[tuple[str, str], ...] = ()


CASES: list[Case] = []


def case(expect: str, pattern: str = "", env: dict[str, str] | None = None) -> Callable:
    def register(build: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(build.__name__, expect, build, pattern, tuple((env or {}).items())))
        return build

    return register


# ------------------------------------------------------------------------ helpers


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def prompts(tmp: Path) -> Path:
    return write(tmp / "prompts.txt", "The movie was\nThe hotel was\n")


def ws(tmp: Path) -> str:
    return str(tmp / "ws")


def demo_dir() -> Path:
    """The demo model folder (built once into RLHF_STUDIO_HOME)."""
    from core.demo import ensure_demo_model

    return ensure_demo_model()


def model_copy(tmp: Path, change: Callable[[dict], None] | None = None) -> Path:
    """A copy of the demo model folder, its config.json changed by `change`."""
    folder = tmp / "model"
    shutil.copytree(demo_dir(), folder)
    if change is not None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        change(config)
        write(folder / "config.json", json.dumps(config))
    return folder


def generate(tmp: Path, *extra: str, model: str = "demo") -> list[str]:
    return ["generate", "--model", model, "--prompts", str(prompts(tmp)), "--workspace",
            ws(tmp), "--max-new-tokens", "4", *extra]  # fmt: skip


def score(tmp: Path, *specs: str) -> list[str]:
    """`score` on a workspace that holds one stored generation (made without a model)."""
    from core.store import Store

    with Store.open(Path(ws(tmp))) as store:
        [prompt_id] = store.add_prompts(["The movie was"], set_name="p")
        store.add_generation(prompt_id, " great", model="demo", params={}, seed=0)
    args = ["score", "--workspace", ws(tmp)]
    for spec in specs:
        args += ["--reward", spec]
    return args


def quiet_datasets():
    """The datasets package, its progress bars off (they would fill this report)."""
    import datasets

    datasets.disable_progress_bars()
    return datasets


def py_score(tmp: Path, source: str) -> list[str]:
    """`score` with a py=FILE reward holding `source`."""
    return score(tmp, f"py={write(tmp / 'r.py', source)}")


def pairs_file(tmp: Path, rows: list[dict] | None = None, name: str = "pairs.jsonl") -> Path:
    rows = rows or [{"prompt": f"p{i} ", "chosen": "good", "rejected": "bad"} for i in range(6)]
    return write(tmp / name, "".join(json.dumps(row) + "\n" for row in rows))


_CHECKPOINT: dict[str, Path] = {}


def checkpoint(tmp: Path) -> Path:
    """A copy of a workspace holding PPO run 1 with a checkpoint at step 1; its folder."""
    source = _CHECKPOINT["ws"]
    shutil.copytree(source, tmp / "ws")
    return tmp / "ws" / "checkpoints" / "run-1" / "step-1"


def make_checkpoint(base: Path) -> None:
    folder = base / "ckpt-ws"
    args = ["ppo", "--prompts", str(prompts(base)), "--workspace", str(folder), "--steps", "1",
            "--batch-size", "2", "--max-new-tokens", "4", "--reward", "length=4"]  # fmt: skip
    done = subprocess.run([PYTHON, "-m", "core", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not make the shared checkpoint: {done.stderr[-2000:]}")
    _CHECKPOINT["ws"] = folder


def resume(tmp: Path, *extra: str) -> list[str]:
    folder = checkpoint(tmp)
    return ["ppo", "--resume", str(folder), "--workspace", ws(tmp), "--steps", "2",
            "--batch-size", "2", "--max-new-tokens", "4", *extra]  # fmt: skip


# ------------------------------------------- the cases (tracebacks, silences)


@case("refuse")
def generate_temperature_nan(tmp):
    return generate(tmp, "--temperature", "nan")


@case("refuse")
def generate_seed_too_large(tmp):
    return generate(tmp, "--seed", "1180591620717411303424")


@case("refuse")
def generate_temperature_inf(tmp):
    return generate(tmp, "--temperature", "inf")


@case("refuse")
def model_config_wrong_type(tmp):
    folder = model_copy(tmp, lambda c: c.update(n_layer="two"))
    return generate(tmp, model=str(folder))


@case("refuse")
def dataset_folder_damaged_info(tmp):
    datasets = quiet_datasets()

    folder = tmp / "ds"
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    write(folder / "dataset_info.json", "{bad")
    return ["import-pairs", str(folder), "--workspace", ws(tmp)]


def _store_with(tmp: Path, sql: list[str]) -> Path:
    folder = tmp / "ws"
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "studio.db")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return folder


@case("refuse")
def store_user_version_rewound(tmp):
    from core.store import Store

    with Store.open(tmp / "ws"):
        pass
    _store_with(tmp, ["PRAGMA user_version = 1"])
    return ["import-prompts", str(prompts(tmp)), "--workspace", ws(tmp)]


@case("refuse")
def store_is_another_apps_sqlite(tmp):
    _store_with(tmp, ["CREATE TABLE prompts (id INTEGER, body TEXT)", "CREATE TABLE notes (x)"])
    return ["import-prompts", str(prompts(tmp)), "--workspace", ws(tmp)]


def _pickled(path: Path, tensors: dict | None = None) -> None:
    import torch

    torch.save({**(tensors or {}), "payload": os.getcwd}, path)


@case("refuse")
def pickled_trainer_state(tmp):
    args = resume(tmp)
    _pickled(Path(args[2]) / "trainer_state.pt")
    return args


@case("refuse")
def pickled_adapter_bin(tmp):
    from safetensors.torch import load_file

    args = resume(tmp)
    adapter = Path(args[2]) / "adapter"
    _pickled(adapter / "adapter_model.bin", load_file(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_model.safetensors").unlink()
    return args


@case("refuse")
def truncated_trainer_state(tmp):
    args = resume(tmp)
    state = Path(args[2]) / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:2000])
    return args


@case("refuse")
def empty_trainer_state(tmp):
    args = resume(tmp)
    (Path(args[2]) / "trainer_state.pt").write_bytes(b"")
    return args


@case("refuse")
def py_reward_returns_10_pow_400(tmp):
    path = write(
        tmp / "r.py", "def reward(prompts, responses):\n    return [10**400] * len(responses)\n"
    )
    return score(tmp, f"py={path}")


@case("refuse")
def py_reward_closes_file_descriptors(tmp):
    text = (
        "import os\ndef reward(prompts, responses):\n    os.closerange(3, 256)\n"
        "    return [1.0] * len(responses)\n"
    )
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("warn", pattern=r"left 1 process")
def py_reward_forks_a_child(tmp):
    text = (
        "import os, time\ndef reward(prompts, responses):\n    if os.fork() == 0:\n"
        "        time.sleep(60)\n        os._exit(0)\n    return [1.0] * len(responses)\n"
    )
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("warn", pattern=r"printed more than 64 KiB")
def py_reward_prints_megabytes(tmp):
    text = "def reward(prompts, responses):\n    print('x' * 3_000_000)\n    return [1.0] * len(responses)\n"
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("refuse")
def reward_weight_zero(tmp):
    return score(tmp, "sentiment@0")


@case("refuse")
def nul_byte_in_a_prompt(tmp):
    path = write(tmp / "nul.txt", b"good prompt\nbad\x00prompt\n")
    return ["import-prompts", str(path), "--workspace", ws(tmp)]


@case("refuse")
def dpo_micro_batch_above_batch(tmp):
    return ["dpo", "--workspace", ws(tmp), "--micro-batch-size", "4", "--batch-size", "2"]


@case("refuse")
def resume_with_another_lora_rank(tmp):
    return resume(tmp, "--lora-r", "4")


@case("refuse")
def resume_with_steps_already_done(tmp):
    args = resume(tmp)
    args[args.index("--steps") + 1] = "1"
    return args


@case("warn", pattern=r"resuming with the run's prompts: .*run-1\.jsonl")
def resume_without_prompts_names_the_recorded_list(tmp):
    return resume(tmp)


@case("refuse")
def checkpoint_config_wrong_type(tmp):
    args = resume(tmp)
    path = Path(args[2]) / "ppo_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["batch_size"] = "two"
    write(path, json.dumps(config))
    return args


@case("refuse")
def train_rm_missing_local_base(tmp):
    from core.cli import main

    main(["import-pairs", str(pairs_file(tmp)), "--workspace", ws(tmp)])
    return ["train-rm", "--base", str(tmp / "no-such-model"), "--workspace", ws(tmp)]


# ----------------------------------------------------------- prompts and data files


@case("refuse")
def prompts_file_is_a_folder(tmp):
    (tmp / "dir.txt").mkdir()
    return ["import-prompts", str(tmp / "dir.txt"), "--workspace", ws(tmp)]


@case("refuse")
def prompts_file_missing(tmp):
    return ["import-prompts", str(tmp / "none.txt"), "--workspace", ws(tmp)]


@case("refuse")
def prompts_file_empty(tmp):
    return ["import-prompts", str(write(tmp / "e.txt", "")), "--workspace", ws(tmp)]


@case("refuse")
def prompts_file_blank_lines_only(tmp):
    return ["import-prompts", str(write(tmp / "b.txt", "\n   \n\t\n")), "--workspace", ws(tmp)]


@case("refuse")
def prompts_file_random_bytes(tmp):
    return ["import-prompts", str(write(tmp / "r.txt", os.urandom(4096))), "--workspace", ws(tmp)]


@case("refuse")
def prompts_file_latin1(tmp):
    path = write(tmp / "l.txt", "caf\xe9 cr\xe8me\n".encode("latin-1"))
    return ["import-prompts", str(path), "--workspace", ws(tmp)]


@case("ok")
def prompts_file_utf16_with_bom(tmp):
    path = write(tmp / "u.txt", "The movie was\n".encode("utf-16"))
    return ["import-prompts", str(path), "--workspace", ws(tmp)]


@case("refuse")
def prompts_jsonl_array_line(tmp):
    return ["import-prompts", str(write(tmp / "a.jsonl", '["x"]\n')), "--workspace", ws(tmp)]


@case("refuse")
def prompts_jsonl_number_prompt(tmp):
    return [
        "import-prompts",
        str(write(tmp / "n.jsonl", '{"prompt": 5}\n')),
        "--workspace",
        ws(tmp),
    ]


@case("refuse")
def prompts_jsonl_empty_prompt(tmp):
    return [
        "import-prompts",
        str(write(tmp / "n.jsonl", '{"prompt": ""}\n')),
        "--workspace",
        ws(tmp),
    ]


@case("refuse")
def prompts_jsonl_deep_nesting(tmp):
    text = '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    return ["import-prompts", str(write(tmp / "d.jsonl", text)), "--workspace", ws(tmp)]


@case("refuse")
def prompts_csv_without_prompt_column(tmp):
    return ["import-prompts", str(write(tmp / "c.csv", "text\nhello\n")), "--workspace", ws(tmp)]


@case("refuse")
def prompts_csv_ragged_row(tmp):
    path = write(tmp / "c.csv", "prompt,reference\nhello,a,b,c\n")
    return ["import-prompts", str(path), "--workspace", ws(tmp)]


@case("refuse")
def prompts_unknown_suffix(tmp):
    return ["import-prompts", str(write(tmp / "p.docx", "x")), "--workspace", ws(tmp)]


@case("refuse")
def prompts_empty_set_name(tmp):
    return ["import-prompts", str(prompts(tmp)), "--set", "  ", "--workspace", ws(tmp)]


@case("refuse")
def pairs_chosen_is_a_list_of_numbers(tmp):
    path = pairs_file(tmp, [{"prompt": "p", "chosen": [1, 2], "rejected": "b"}])
    return ["import-pairs", str(path), "--workspace", ws(tmp)]


@case("refuse")
def pairs_missing_rejected(tmp):
    path = pairs_file(tmp, [{"prompt": "p", "chosen": "a"}])
    return ["import-pairs", str(path), "--workspace", ws(tmp)]


@case("refuse")
def ratings_label_not_boolean(tmp):
    path = pairs_file(tmp, [{"prompt": "p", "completion": "a", "label": "maybe"}], "r.jsonl")
    return ["import-ratings", str(path), "--workspace", ws(tmp)]


@case("refuse")
def ratings_score_nan(tmp):
    path = write(tmp / "r.jsonl", '{"prompt": "p", "completion": "a", "score": NaN}\n')
    return ["import-ratings", str(path), "--workspace", ws(tmp)]


@case("refuse")
def pairs_parquet_that_is_text(tmp):
    return ["import-pairs", str(write(tmp / "x.parquet", "not parquet")), "--workspace", ws(tmp)]


@case("refuse")
def pairs_dataset_unknown_split(tmp):
    datasets = quiet_datasets()

    folder = tmp / "ds"
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c"}]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(folder))
    return ["import-pairs", str(folder), "--split", "test", "--workspace", ws(tmp)]


@case("refuse")
def pairs_dataset_truncated_arrow(tmp):
    datasets = quiet_datasets()

    folder = tmp / "ds"
    rows = [{"prompt": "a" * 50, "chosen": "b", "rejected": "c"}] * 50
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    arrow = next(folder.glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:500])
    return ["import-pairs", str(folder), "--workspace", ws(tmp)]


# ------------------------------------------------------------ generation settings


@case("refuse")
def generate_n_zero(tmp):
    return generate(tmp, "--n", "0")


@case("refuse")
def generate_max_new_tokens_negative(tmp):
    return generate(tmp, "--max-new-tokens", "-5")


@case("refuse")
def generate_top_p_zero(tmp):
    return generate(tmp, "--top-p", "0")


@case("refuse")
def generate_top_k_negative(tmp):
    return generate(tmp, "--top-k", "-1")


@case("refuse")
def generate_batch_size_zero(tmp):
    return generate(tmp, "--batch-size", "0")


@case("refuse")
def generate_temperature_negative(tmp):
    return generate(tmp, "--temperature", "-1")


@case("refuse")
def generate_prompts_missing(tmp):
    args = generate(tmp)
    args[args.index("--prompts") + 1] = str(tmp / "none.txt")
    return args


# ------------------------------------------------------------- model folders


@case("refuse")
def model_is_a_file(tmp):
    return generate(tmp, model=str(write(tmp / "model.bin", "x")))


@case("refuse")
def model_folder_empty(tmp):
    (tmp / "empty").mkdir()
    return generate(tmp, model=str(tmp / "empty"))


@case("refuse")
def model_config_is_a_list(tmp):
    folder = model_copy(tmp)
    write(folder / "config.json", "[]")
    return generate(tmp, model=str(folder))


@case("refuse")
def model_config_without_model_type(tmp):
    folder = model_copy(tmp, lambda c: c.pop("model_type"))
    return generate(tmp, model=str(folder))


@case("refuse")
def model_config_negative_width(tmp):
    folder = model_copy(tmp, lambda c: c.update(n_embd=-128))
    return generate(tmp, model=str(folder))


@case("refuse")
def model_config_zero_vocab(tmp):
    folder = model_copy(tmp, lambda c: c.update(vocab_size=0))
    return generate(tmp, model=str(folder))


@case("refuse")
def model_config_heads_do_not_divide(tmp):
    folder = model_copy(tmp, lambda c: c.update(n_head=3))
    return generate(tmp, model=str(folder))


@case("refuse")
def model_weights_truncated(tmp):
    folder = model_copy(tmp)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    return generate(tmp, model=str(folder))


@case("refuse")
def model_weights_pickled(tmp):
    from safetensors.torch import load_file

    folder = model_copy(tmp)
    _pickled(folder / "pytorch_model.bin", load_file(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    return generate(tmp, model=str(folder))


@case("refuse")
def model_tokenizer_json_garbage(tmp):
    folder = model_copy(tmp)
    write(folder / "tokenizer.json", "{not json")
    return generate(tmp, model=str(folder))


@case("refuse")
def model_config_auto_map_without_trust(tmp):
    folder = model_copy(
        tmp, lambda c: c.update(auto_map={"AutoModelForCausalLM": "m.Model"}, model_type="mine")
    )
    return generate(tmp, model=str(folder))


@case("refuse")
def adapter_missing(tmp):
    return generate(tmp, "--adapter", str(tmp / "no-adapter"))


@case("refuse")
def adapter_is_a_model_folder(tmp):
    return generate(tmp, "--adapter", str(model_copy(tmp)))


@case("refuse")
def adapter_config_garbage(tmp):
    folder = tmp / "adapter"
    write(folder / "adapter_config.json", "{garbage")
    write(folder / "adapter_model.safetensors", b"\x00" * 64)
    return generate(tmp, "--adapter", str(folder))


# --------------------------------------------------------------------- the store


@case("refuse")
def workspace_is_a_file(tmp):
    return ["import-prompts", str(prompts(tmp)), "--workspace", str(write(tmp / "ws", "x"))]


@case("refuse")
def workspace_under_a_file(tmp):
    write(tmp / "file", "x")
    return ["import-prompts", str(prompts(tmp)), "--workspace", str(tmp / "file" / "ws")]


@case("refuse")
def store_is_a_folder(tmp):
    (tmp / "ws" / "studio.db").mkdir(parents=True)
    return ["prompts", "--workspace", ws(tmp)]


@case("refuse")
def store_is_random_bytes(tmp):
    write(tmp / "ws" / "studio.db", os.urandom(8192))
    return ["prompts", "--workspace", ws(tmp)]


@case("refuse")
def store_from_a_newer_app(tmp):
    from core.store import Store

    with Store.open(tmp / "ws"):
        pass
    _store_with(tmp, ["PRAGMA user_version = 999"])
    return ["prompts", "--workspace", ws(tmp)]


@case("refuse")
def store_user_version_negative(tmp):
    _store_with(tmp, ["PRAGMA user_version = -1"])
    return ["prompts", "--workspace", ws(tmp)]


# ------------------------------------------------------------------------ rewards


@case("refuse")
def reward_unknown_kind(tmp):
    return score(tmp, "happiness")


@case("refuse")
def reward_length_not_a_number(tmp):
    return score(tmp, "length=abc")


@case("refuse")
def reward_py_missing_file(tmp):
    return score(tmp, f"py={tmp / 'none.py'}")


@case("refuse")
def reward_py_syntax_error(tmp):
    return py_score(tmp, "def reward(:\n")


@case("refuse")
def reward_py_returns_strings(tmp):
    text = "def reward(prompts, responses):\n    return ['1'] * len(responses)\n"
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("refuse")
def reward_py_wrong_length(tmp):
    return py_score(tmp, "def reward(p, r):\n    return []\n")


@case("refuse")
def reward_py_is_a_folder(tmp):
    (tmp / "r.py").mkdir()
    return score(tmp, f"py={tmp / 'r.py'}")


@case("refuse")
def reward_py_recursion(tmp):
    text = "def reward(prompts, responses):\n    return reward(prompts, responses)\n"
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("refuse")
def reward_py_returns_a_generator(tmp):
    text = "def reward(prompts, responses):\n    return (1.0 for _ in responses)\n"
    return score(tmp, f"py={write(tmp / 'r.py', text)}")


@case("refuse", env={"RLHF_STUDIO_PY_REWARD_TIMEOUT": "soon"})
def reward_py_timeout_env_not_a_number(tmp):
    return py_score(tmp, "def reward(p, r):\n    return [1.0] * len(r)\n")


@case("refuse")
def reward_regex_invalid(tmp):
    return score(tmp, "regex=(")


@case("refuse")
def reward_weight_nan(tmp):
    return score(tmp, "sentiment@nan")


@case("refuse")
def reward_weight_minus_inf(tmp):
    return score(tmp, "sentiment@-inf")


@case("refuse")
def reward_rm_missing_folder(tmp):
    return score(tmp, f"rm={tmp / 'no-rm'}")


@case("refuse")
def reward_rm_is_a_causal_lm(tmp):
    return score(tmp, f"rm={model_copy(tmp)}")


# ------------------------------------------------------------- training commands


def ppo(tmp: Path, *extra: str) -> list[str]:
    return ["ppo", "--prompts", str(prompts(tmp)), "--workspace", ws(tmp), *extra]


@case("refuse")
def ppo_steps_zero(tmp):
    return ppo(tmp, "--steps", "0")


@case("refuse")
def ppo_learning_rate_nan(tmp):
    return ppo(tmp, "--learning-rate", "nan")


@case("refuse")
def ppo_batch_not_a_multiple_of_mini_batch(tmp):
    return ppo(tmp, "--batch-size", "3", "--mini-batch-size", "2")


@case("refuse")
def ppo_config_missing(tmp):
    return ppo(tmp, "--config", str(tmp / "none.json"))


@case("refuse")
def ppo_config_is_a_list(tmp):
    return ppo(tmp, "--config", str(write(tmp / "c.json", "[1, 2]")))


@case("refuse")
def ppo_config_unknown_key(tmp):
    return ppo(tmp, "--config", str(write(tmp / "c.json", '{"stepz": 3}')))


@case("refuse")
def ppo_config_yaml_with_a_tab(tmp):
    return ppo(tmp, "--config", str(write(tmp / "c.yaml", "steps:\n\t- 3\n")))


@case("refuse")
def ppo_config_yaml_python_tag(tmp):
    text = "steps: !!python/object/apply:os.getcwd []\n"
    return ppo(tmp, "--config", str(write(tmp / "c.yaml", text)))


@case("refuse")
def ppo_metrics_out_in_missing_folder(tmp):
    return ppo(tmp, "--metrics-out", str(tmp / "no" / "m.jsonl"))


@case("refuse")
def ppo_resume_missing_folder(tmp):
    return ["ppo", "--resume", str(tmp / "none"), "--workspace", ws(tmp)]


@case("refuse")
def ppo_resume_a_file(tmp):
    return ["ppo", "--resume", str(write(tmp / "ckpt", "x")), "--workspace", ws(tmp)]


@case("refuse")
def ppo_resume_meta_garbage(tmp):
    args = resume(tmp)
    write(Path(args[2]) / "meta.json", "{garbage")
    return args


@case("refuse")
def ppo_resume_meta_is_a_list(tmp):
    args = resume(tmp)
    write(Path(args[2]) / "meta.json", "[]")
    return args


@case("ok")
def ppo_resume_meta_step_is_text(tmp):
    """meta.json's step only describes the checkpoint: the trainer state holds the real one."""
    args = resume(tmp)
    meta = json.loads((Path(args[2]) / "meta.json").read_text(encoding="utf-8"))
    meta["step"] = "one"
    write(Path(args[2]) / "meta.json", json.dumps(meta))
    return args


@case("refuse")
def ppo_resume_config_deleted(tmp):
    args = resume(tmp)
    (Path(args[2]) / "ppo_config.json").unlink()
    return args


@case("refuse")
def ppo_resume_value_head_garbage(tmp):
    args = resume(tmp)
    write(Path(args[2]) / "value_head.safetensors", b"\x00" * 16)
    return args


@case("refuse")
def grpo_resume_a_ppo_checkpoint(tmp):
    args = resume(tmp)
    args[0] = "grpo"
    return args


@case("refuse")
def dpo_without_comparisons(tmp):
    return ["dpo", "--workspace", ws(tmp), "--steps", "1"]


@case("refuse")
def dpo_epochs_zero(tmp):
    return ["dpo", "--workspace", ws(tmp), "--epochs", "0"]


@case("refuse")
def train_rm_without_comparisons(tmp):
    return ["train-rm", "--workspace", ws(tmp)]


@case("refuse")
def label_zero_pairs(tmp):
    return ["label", "--pairs", "0", "--workspace", ws(tmp)]


# ---------------------------------------------------------------------- exports


@case("refuse")
def export_pairs_into_missing_folder(tmp):
    return [
        "export",
        "--format",
        "pairs",
        "--out",
        str(tmp / "no" / "p.jsonl"),
        "--workspace",
        ws(tmp),
    ]


@case("refuse")
def export_unknown_format(tmp):
    return ["export", "--format", "docx", "--out", str(tmp / "x"), "--workspace", ws(tmp)]


@case("refuse")
def export_missing_checkpoint(tmp):
    args = ["export", "--format", "adapter", "--out", str(tmp / "a")]
    return [*args, "--checkpoint", str(tmp / "none"), "--workspace", ws(tmp)]


@case("refuse")
def export_metrics_of_a_missing_run(tmp):
    args = ["export", "--format", "metrics", "--out", str(tmp / "m.csv")]
    return [*args, "--run", "999", "--workspace", ws(tmp)]


@case("refuse")
def plan_unknown_model(tmp):
    return ["plan", "--model", str(tmp / "no-model")]


# ------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Outcome:
    clean: bool
    code: int
    line: str


def judge(one: Case, code: int, out: str, err: str) -> Outcome:
    """Whether the command's outcome is what a user should see for this case."""
    if "Traceback" in err or "Traceback" in out:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        return Outcome(False, code, f"traceback: {last[:200]}")
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error: " in line]
    if one.expect == "refuse":
        line = errors[0] if errors else (err.strip().splitlines() or [""])[-1]
        return Outcome(code != 0 and len(errors) == 1, code, line[:240])
    if one.expect == "warn":
        found = re.search(one.pattern, out + "\n" + err)
        return Outcome(found is not None, code, found.group(0) if found else "no warning")
    return Outcome(code == 0, code, (errors or ["ran"])[0][:240])


def run_case(one: Case, base: Path, timeout_s: float) -> Outcome:
    tmp = Path(tempfile.mkdtemp(prefix=f"{one.name[:20]}-", dir=base))
    try:
        args = one.build(tmp)
    except Exception as error:  # noqa: BLE001 - a case that cannot be built is reported
        return Outcome(False, -1, f"could not build the case: {type(error).__name__}: {error}")
    env = {**os.environ, **dict(one.env)}
    try:
        done = subprocess.run(
            [PYTHON, "-m", "core", *args], capture_output=True, text=True, timeout=timeout_s,
            env=env, cwd=tmp, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(False, -1, f"hung past {timeout_s:g} s")
    return judge(one, done.returncode, done.stdout, done.stderr)


def _needs_checkpoint(one: Case) -> bool:
    return bool({"resume", "checkpoint"} & set(one.build.__code__.co_names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if args.only in c.name]
    if args.list:
        for one in chosen:
            print(f"{one.expect:7} {one.name}")
        return 0
    sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as folder:
        base = Path(folder)
        if any(_needs_checkpoint(one) for one in chosen):
            make_checkpoint(base)
        clean = 0
        for one in chosen:
            outcome = run_case(one, base, args.timeout)
            clean += outcome.clean
            verdict = "clean" if outcome.clean else "NOT CLEAN"
            print(
                f"{verdict:9} {one.expect:6} rc={outcome.code:<3} {one.name}: {outcome.line}",
                flush=True,
            )
    print(f"clean={clean}/{len(chosen)} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
