"""The built-in demo judge: a small model that follows the rubric it is given, offline.

`ensure_demo_judge()` builds it on first use from the demo model (a few minutes on two
CPU cores) and returns a standard Hugging Face folder that the ordinary LLMJudge reads;
`--judge demo-judge` selects it. Its rubrics and their ground truth live in
core.judge.rubrics, its training tasks in core.judge.tasks.
"""

from core.judge.cache import (
    DEMO_JUDGE,
    demo_judge_folder,
    demo_judge_info,
    ensure_demo_judge,
    is_demo_judge_built,
)

__all__ = [
    "DEMO_JUDGE",
    "demo_judge_folder",
    "demo_judge_info",
    "ensure_demo_judge",
    "is_demo_judge_built",
]
