"""TRL's two dataset formats, to and from the plain text the store keeps.

TRL reads a preference row as *standard* text (`{"prompt": "...", "chosen": "...",
"rejected": "..."}`) or *conversational* message lists (`{"prompt": [{"role": "user",
"content": "..."}], "chosen": [{"role": "assistant", "content": "..."}], ...}`), which its
trainers render with the tokenizer's chat template. RLHF Studio's chat prompt format sends
a prompt as exactly one user message (core.prompt_format), so a conversational prompt
maps to the store when it is one user message, and an answer when it is one assistant
message; anything else (a system message, several turns) is refused with the reason, as
the app could not show the model what TRL would.

Read functions return (text, prompt_format): "plain" for text, "chat" for messages.
"""

from __future__ import annotations

from typing import Any

from core.errors import InputFileError

PLAIN, CHAT = "plain", "chat"


def is_messages(value: Any) -> bool:
    """Whether `value` is a list of {"role", "content"} messages (TRL's conversational form)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)
    )


def user_message(text: str) -> list[dict[str, str]]:
    """A prompt as TRL's conversational prompt: one user message."""
    return [{"role": "user", "content": text}]


def assistant_message(text: str) -> list[dict[str, str]]:
    """An answer as TRL's conversational completion: one assistant message."""
    return [{"role": "assistant", "content": text}]


def read_prompt(where: str, value: Any, column: str = "prompt") -> tuple[str, str]:
    """(prompt text, format) of a prompt cell: text, or one user message."""
    if is_messages(value):
        text = _single_message(where, value, "user", column)
        fmt = CHAT
    elif isinstance(value, str):
        text, fmt = value, PLAIN
    else:
        raise InputFileError(
            f'{where}: "{column}" must be text or a list of messages, got '
            f"{type(value).__name__}; write the prompt as a string"
        )
    if not text.strip():
        raise InputFileError(f'{where}: empty "{column}"; write the prompt or remove the row')
    return text, fmt


def read_answer(where: str, value: Any, column: str) -> tuple[str, str]:
    """(answer text, format) of an answer cell: text, or one assistant message."""
    if is_messages(value):
        return _single_message(where, value, "assistant", column), CHAT
    if isinstance(value, str):
        return value, PLAIN
    raise InputFileError(
        f'{where}: "{column}" must be text or a list of messages, got '
        f"{type(value).__name__}; write the answer as a string"
    )


def split_conversation(where: str, chosen: Any, rejected: Any) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) texts of TRL's implicit-prompt conversational row: two
    conversations sharing every message but the last (the two assistant answers)."""
    for column, value in (("chosen", chosen), ("rejected", rejected)):
        if not is_messages(value) or len(value) < 2:
            raise InputFileError(
                f'{where}: no "prompt" column, so "{column}" must be a conversation (a user '
                'message, then the answer); add a "prompt" column to name the prompt'
            )
    if chosen[:-1] != rejected[:-1]:
        raise InputFileError(
            f'{where}: "chosen" and "rejected" start with different messages, so the '
            'prompt they share is unclear; add a "prompt" column'
        )
    prompt, _ = read_prompt(where, chosen[:-1])
    answers = [_single_message(where, [value[-1]], "assistant", name)
               for name, value in (("chosen", chosen), ("rejected", rejected))]  # fmt: skip
    return prompt, answers[0], answers[1]


def _single_message(where: str, messages: list[dict[str, Any]], role: str, column: str) -> str:
    roles = [str(m.get("role")) for m in messages]
    if roles != [role]:
        raise InputFileError(
            f'{where}: "{column}" holds messages {roles}; RLHF Studio sends a prompt as one '
            f"user message and reads an answer as one assistant message, so it takes "
            f"exactly one {role} message here; keep one, or merge them"
        )
    content = messages[0]["content"]
    if not isinstance(content, str):
        raise InputFileError(
            f'{where}: the {role} message of "{column}" has {type(content).__name__} content; '
            "only text content is supported"
        )
    return content
