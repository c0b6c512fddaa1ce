"""TRL's two dataset formats, to and from the plain text the store keeps.

TRL reads a preference row as *standard* text (`{"prompt": "...", "chosen": "...",
"rejected": "..."}`) or *conversational* message lists (`{"prompt": [{"role": "user",
"content": "..."}], "chosen": [{"role": "assistant", "content": "..."}], ...}`), which its
trainers render with the tokenizer's chat template. A conversational prompt of one user message is
stored as its text; a longer one (a system message, earlier turns: HH-RLHF and most chat
preference sets) is stored as the JSON of its message list (`conversation_text`), which the
chat prompt format renders whole through the chat template (core.data.prompt_format). An answer
is one assistant message.

Read functions return (text, prompt_format): "plain" for text, "chat" for messages.
"""

from __future__ import annotations

import json
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


_ROLES = ("system", "user", "assistant")


def conversation_text(messages: list[dict[str, str]]) -> str:
    """A multi-message prompt as the store keeps it: the JSON of [{"role", "content"}]."""
    rows = [{"role": m["role"], "content": m["content"]} for m in messages]
    return json.dumps(rows, ensure_ascii=False)


def conversation_of(text: str) -> list[dict[str, str]] | None:
    """The message list a stored prompt holds (conversation_text's), or None for text."""
    if not text.startswith('[{"role": '):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if is_messages(value) else None


def prompt_messages(text: str) -> list[dict[str, str]]:
    """A stored prompt as TRL's conversational prompt."""
    return conversation_of(text) or user_message(text)


def read_prompt(where: str, value: Any, column: str = "prompt") -> tuple[str, str]:
    """(prompt text, format) of a prompt cell: text, one user message (its text), or a
    conversation ending with a user message (its JSON)."""
    if is_messages(value):
        if len(value) == 1:
            text = _single_message(where, value, "user", column)
        else:
            text = conversation_text(_checked_conversation(where, value, column))
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


def _checked_conversation(where: str, messages: list[dict[str, Any]], column: str) -> list:
    roles = [str(m.get("role")) for m in messages]
    if any(role not in _ROLES for role in roles) or roles[-1] != "user":
        raise InputFileError(
            f'{where}: "{column}" holds messages {roles}; a prompt conversation takes system, '
            "user and assistant messages and ends with the user message the answers reply to"
        )
    for message in messages:
        if not isinstance(message["content"], str):
            raise InputFileError(
                f'{where}: a {message["role"]} message of "{column}" has '
                f"{type(message['content']).__name__} content; only text content is supported"
            )
    return messages


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
