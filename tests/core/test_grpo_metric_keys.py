"""GRPO's and RLOO's metric keys: the shared ones keep PPO's names, the new ones are
documented in docs/metrics.md's GRPO and RLOO section, and every key the trainers report
is one of the two."""

import re
from pathlib import Path

from core.grpo.metrics import EXTRA_KEYS, GROUP_KEYS, KL_KEYS, REQUIRED_KEYS
from core.ppo.metrics import EVAL_KEYS
from core.ppo.metrics import STEP_KEYS as PPO_KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
CRITIC_FREE_KEYS = set(REQUIRED_KEYS + KL_KEYS + EXTRA_KEYS + GROUP_KEYS + EVAL_KEYS) | {"loss/kl"}


def _section_keys() -> set[str]:
    """The key (second cell) of every row of the GRPO and RLOO table."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## GRPO and RLOO") :]
    return set(re.findall(r"^\| [^|`]+ \| `([^`]+)` \|", section, re.MULTILINE))


def test_new_keys_are_documented_and_shared_keys_keep_ppos_names():
    shared = {
        "reward/mean",
        "reward/std",
        "objective/kl",
        "policy/clipfrac",
        "policy/entropy",
        "loss/policy",
        "response/length",
        "perf/samples_per_s",
        "perf/step_time_s",
        "perf/peak_mem_bytes",
    }
    assert shared <= CRITIC_FREE_KEYS and shared <= set(PPO_KEYS)
    new = CRITIC_FREE_KEYS - set(PPO_KEYS)
    assert new == {
        "loss/kl",
        "advantage/abs_mean",
        "group/zero_std_frac",
        "group/frac_reward_zero_std",
        "group/reward_std",
        "loss/rows_in_loss_frac",
        "objective/kl_per_token",
    }
    documented = _section_keys()
    assert new <= documented, new - documented
    assert documented <= CRITIC_FREE_KEYS, documented - CRITIC_FREE_KEYS
