"""One set of metric names: core/ppo/metrics.py's keys are exactly the ones docs/metrics.md
documents."""

import re
from pathlib import Path

from core.ppo.metrics import EVAL_KEYS, EXTRA_KEYS, REQUIRED_KEYS, STEP_KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _documented_keys() -> set[str]:
    """The first cell of every table row that names one key in backticks, in the PPO part
    (up to the next top-level heading: the other trainers' metrics follow)."""
    text = DOCS.read_text(encoding="utf-8")
    ppo_part = text.split("\n# ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", ppo_part, re.MULTILINE))


def test_every_key_is_documented_and_every_documented_key_exists():
    documented = _documented_keys()
    assert set(STEP_KEYS) <= documented, set(STEP_KEYS) - documented
    assert documented - set(STEP_KEYS) == {"reward/<component>", "watch/<name>"}


def test_the_key_groups_do_not_overlap():
    assert len(STEP_KEYS) == len(set(STEP_KEYS))
    assert set(STEP_KEYS) == set(REQUIRED_KEYS) | set(EXTRA_KEYS) | set(EVAL_KEYS)
