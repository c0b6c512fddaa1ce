"""The docs name only real commands: every `rlhf-studio-cli X` / `python -m core X` and
every command-like word in backticks (`export-metrics`...) is a subcommand that exists."""

from __future__ import annotations

import re
from pathlib import Path

from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_VERBS = ("import", "export", "train", "label", "score", "generate", "prompts", "demo")


def _subcommands() -> set[str]:
    parser = build_parser()
    [action] = [a for a in parser._actions if a.dest == "command"]
    return set(action.choices)


def test_docs_name_only_real_commands():
    commands = _subcommands()
    assert {"import-pairs", "import-ratings", "export", "train-rm", "ppo"} <= commands
    wrong = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        invoked = re.findall(r"(?:rlhf-studio-cli|python -m core) ([a-z][a-z-]*)", text)
        backticked = re.findall(rf"`((?:{'|'.join(COMMAND_VERBS)})-[a-z-]+)`", text)
        wrong += [f"{doc.name}: {name}" for name in invoked + backticked if name not in commands]
    assert wrong == []
