"""What `--resume` takes from the checkpoint, checked and said before the model loads.

A resumed run continues its checkpoint: the adapter's shape and the step count are the
checkpoint's. Flags that would change them are refused rather than silently ignored, and
`--steps` at or below the checkpoint's step (which would train nothing) is refused too.
Without `--prompts`, a run of this workspace resumes on the prompts it recorded
(`run_prompts/run-<id>.jsonl`), and says so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TrainingError

if TYPE_CHECKING:
    from core.store import Store

# --lora-* setting -> the adapter_config.json key that holds it.
_LORA_KEYS = {"r": "r", "alpha": "lora_alpha", "target_modules": "target_modules"}


def check_resume_flags(args: argparse.Namespace, checkpoint: Path) -> None:
    """Refuse a --steps that trains nothing and --lora-* flags the checkpoint contradicts."""
    from core.train.checkpoints import checkpoint_step, read_meta, resolve_checkpoint

    folder = resolve_checkpoint(checkpoint)
    step = read_meta(folder).get("step")
    if not isinstance(step, int):  # meta.json only describes it; the folder is named too
        step = checkpoint_step(folder)
    steps = getattr(args, "steps", None)
    if steps is not None and isinstance(step, int) and steps <= step:
        raise TrainingError(
            f"--steps {steps} is the run's total, and the checkpoint {folder} is at step "
            f"{step}: nothing would be trained; pass more than {step} (e.g. --steps "
            f"{step + 10} for 10 more)."
        )
    _check_lora_flags(args, folder)


def _check_lora_flags(args: argparse.Namespace, folder: Path) -> None:
    from core.cli.common import LORA_PREFIX
    from core.config import LoraSpec
    from core.config.settings import flag_namer, show, user_values_from_args

    given = user_values_from_args(LoraSpec, args, prefix=LORA_PREFIX)
    if not given:
        return
    saved = _adapter_config(folder)
    flag_of = flag_namer(LoraSpec, LORA_PREFIX)
    for name, value in given.items():
        key = _LORA_KEYS.get(name)
        if key is None or key not in saved:
            continue
        found = saved[key]
        if isinstance(found, list | tuple) or isinstance(value, tuple):
            same = set(found or ()) == set(value or ())
            shown = ",".join(sorted(found or ()))
        else:
            same, shown = found == value, str(found)
        if not same:
            raise TrainingError(
                f"{flag_of(name)} {show(value)} does not apply to --resume: the checkpoint's adapter has "
                f"{key}={shown}, and resuming continues that adapter; leave "
                f"{flag_of(name)} out, or start a new run (without --resume) for a new one."
            )


def _adapter_config(folder: Path) -> dict[str, Any]:
    path = folder / "adapter" / "adapter_config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # the resume itself reports a missing or damaged adapter
    return data if isinstance(data, dict) else {}


def recorded_prompts(store: Store, checkpoint: Path) -> list[str] | None:
    """The prompts this workspace recorded for the checkpoint's run (said on stdout), or
    None when the checkpoint is another workspace's or its run recorded none."""
    from core.data.run_prompts import read_run_prompts
    from core.paths import run_prompts_file
    from core.train.checkpoints import resolve_checkpoint
    from core.train.launch import own_run_of

    run_id = own_run_of(store, resolve_checkpoint(checkpoint))
    if run_id is None:
        return None
    try:
        prompts = read_run_prompts(store.workspace, run_id)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged list: the resume's own prompt check says what differs
    if prompts:
        path = run_prompts_file(store.workspace, run_id)
        print(f"resuming with the run's prompts: {path} ({len(prompts)} prompts)")
    return prompts or None
