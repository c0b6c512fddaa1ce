"""A reward-model folder: its rm_meta.json, and the one rule for the text it scores.

The text convention. A reward model scores `prompt + response`, followed by the
tokenizer's end-of-text token when the trainer that made it appended one:

- TRL's RewardTrainer appends `eos_token` to every standard (text) example it trains on,
  unless the answer already ends with it; RLHF Studio's `train-rm` does the same since
  rm_meta.json format_version 2 (`"append_eos": true`), so its models also score in TRL
  as they trained here. The scalar is then read at the end-of-text token, as in training.
- Where the folder says who trained it, scoring follows that trainer: rm_meta.json's
  `append_eos` (format_version 1, before the change, trained without one), or TRL's marks
  (a model card tagged `reward-trainer`, or TRL's RewardConfig in `training_args.bin`,
  read as bytes, never unpickled). A folder without either (another trainer's model) is
  scored on the text as it is.

Conversational rows (answers generated or imported as chat) go through the tokenizer's
chat template instead, as TRL's RewardTrainer tokenizes them: the prompt's messages and the
answer as an assistant message, rendered and encoded without added special tokens, with no
end-of-text appended (the template closes the turn itself). rm_meta.json's `input_format`
records which rows a model trained on: `text`, `chat` or `mixed`; scoring reads chat
through the template when the model trained on chat, and for a mixed model or a folder
without the record (TRL's, another trainer's) when the policy's prompts are chat.
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config.io import to_dict
from core.errors import TrainingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from transformers import PreTrainedTokenizerBase

    from core.reward_model.pairs import PreferencePair

META_FILE = "rm_meta.json"
META_FORMAT_VERSION = 2
"""2: inputs end with the tokenizer's end-of-text token (`append_eos`); 1: they did not."""
_TRL_TAG = "reward-trainer"
_TRL_CONFIG = b"trl.trainer.reward_config"


def read_meta(folder: str | Path) -> dict[str, Any] | None:
    """rm_meta.json of a reward-model folder, or None when it has none (a foreign model)."""
    path = Path(folder).expanduser() / META_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def appends_eos(folder: str | Path) -> tuple[bool, str]:
    """(whether inputs end with the end-of-text token, which mark of the folder says so)."""
    folder = Path(folder).expanduser()
    meta = read_meta(folder)
    if meta is not None:
        return bool(meta.get("append_eos", False)), f"{META_FILE} (RLHF Studio's train-rm)"
    if trained_by_trl(folder):
        return True, "TRL's RewardTrainer (it appends the end-of-text token)"
    return False, "no trainer recorded in the folder: the text as it is"


def trained_by_trl(folder: Path) -> bool:
    """Whether the folder carries TRL's RewardTrainer marks (model card tag or config)."""
    card = folder / "README.md"
    if card.is_file():
        try:
            text = card.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if text.startswith("---") and _TRL_TAG in text.split("---", 2)[1]:
            return True
    args = folder / "training_args.bin"
    if args.is_file():
        try:
            with zipfile.ZipFile(args) as archive:  # torch.save's zip; the pickle as bytes
                return any(
                    _TRL_CONFIG in archive.read(name)
                    for name in archive.namelist()
                    if name.endswith("data.pkl")
                )
        except (OSError, zipfile.BadZipFile):
            return False
    return False


def reward_input(prompt: str, response: str, eos_token: str | None) -> str:
    """The text a reward model reads: prompt + response (+ end-of-text when given and the
    response does not already end with it, as TRL's RewardTrainer does)."""
    if eos_token and not response.endswith(eos_token):
        response += eos_token
    return prompt + response


def chat_input(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str) -> list[int]:
    """Token ids of a conversational row as TRL's RewardTrainer makes them: the prompt's
    messages plus the answer as an assistant message, through the chat template."""
    from core.data.trl_rows import prompt_messages

    messages = [*prompt_messages(prompt), {"role": "assistant", "content": response}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def input_format_of(folder: str | Path) -> str | None:
    """text | chat | mixed: the rows the folder's model trained on, or None unrecorded."""
    meta = read_meta(folder)
    if meta is None:
        return None
    return str(meta.get("input_format", "text"))


def reads_chat(folder: str | Path, policy_prompt_format: str, has_template: bool) -> bool:
    """Whether to score through the chat template: as the model trained when recorded,
    else (mixed, or unrecorded) as the policy's prompts are formatted."""
    if not has_template:
        return False
    recorded = input_format_of(folder)
    if recorded in ("text", "chat"):
        return recorded == "chat"
    return policy_prompt_format == "chat"


def input_format(pairs: Sequence[PreferencePair], tokenizer: PreTrainedTokenizerBase) -> str:
    """text | chat | mixed: which rows a training set reads through the chat template."""
    chat = sum(bool(p.chat) for p in pairs) if getattr(tokenizer, "chat_template", None) else 0
    return "text" if chat == 0 else "chat" if chat == len(pairs) else "mixed"


def check_out_folder(out: Path) -> Path:
    """`out` if it is new, empty, or an earlier reward model (which is replaced)."""
    out = out.expanduser()
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / META_FILE).is_file()):
        raise TrainingError(
            f"{out} exists and is not an earlier reward model; choose a new or empty folder "
            f"for --out."
        )
    return out


def save_reward_model(
    model, tokenizer, out: Path, config: Any, source: str, train, held_out, result
) -> dict[str, Any]:
    """Merge LoRA into the backbone, save the classifier, tokenizer and rm_meta.json (its
    settings, epochs and the comparison ids it trained and was checked on); return the meta."""
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    best = result.best
    meta = {
        "format": "rlhf-studio-reward-model",
        "format_version": META_FORMAT_VERSION,
        "base": config.base,
        "config": to_dict(config),
        "source": source,
        "append_eos": bool(tokenizer.eos_token),
        "input_format": input_format([*train, *held_out], tokenizer),
        "input": "prompt + response + eos_token (as TRL's RewardTrainer), right-padded, "
        "truncated from the left"
        if tokenizer.eos_token
        else "prompt + response, right-padded, truncated from the left",
        "n_train": len(train),
        "n_eval": len(held_out),
        "n_train_human": sum(p.source == "human" for p in train),
        "n_eval_human": sum(p.source == "human" for p in held_out),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "held_out_accuracy": best.eval_accuracy,
        "held_out_accuracy_human": best.eval_accuracy_human,
        "held_out_margin": best.eval_margin,
        "epochs": [asdict(report) for report in result.epochs],
        "train_comparison_ids": _comparison_ids(train),
        "eval_comparison_ids": _comparison_ids(held_out),
        "seconds": result.seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _comparison_ids(pairs) -> list[int]:
    """Every stored verdict behind `pairs` (a merged pair stands for all of its verdicts)."""
    ids: set[int] = set()
    for pair in pairs:
        ids.update(pair.comparison_ids or ([pair.comparison_id] if pair.comparison_id else []))
    return sorted(ids)
