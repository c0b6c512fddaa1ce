"""An Ollama Modelfile for an exported GGUF: FROM, TEMPLATE, stop tokens, sampling defaults.

Ollama templates are Go templates, while Hugging Face chat templates are Jinja. Rather than
translate Jinja (a language), the chat template is *rendered* on a few conversations with
marker contents, and the text around the markers gives each role's prefix and suffix and
the generation prompt; those become a Go template over `.Messages`. This holds for the
templates that wrap each message the same way wherever it stands (ChatML, Llama 3, Mistral,
Gemma, Zephyr and most others). A template whose pieces do not line up (one that moves
the system message into the first user turn, say) gets `{{ .Prompt }}` with a comment, and
the export says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_S, _U, _A, _V = "\x01SYSTEM\x01", "\x01USER\x01", "\x01ASSISTANT\x01", "\x01USER2\x01"


@dataclass(frozen=True)
class RoleWrappers:
    """Text around each role's content, and what opens the model's turn."""

    system: tuple[str, str] | None
    user: tuple[str, str]
    assistant: tuple[str, str]
    generation: str


def modelfile(
    tokenizer: PreTrainedTokenizerBase, gguf_name: str, sampling: dict[str, float]
) -> tuple[str, bool]:
    """(Modelfile text, whether the chat template became a TEMPLATE)."""
    lines = [f"FROM ./{gguf_name}", ""]
    wrappers = role_wrappers(tokenizer) if getattr(tokenizer, "chat_template", None) else None
    if wrappers is not None:
        lines += [f'TEMPLATE """{go_template(wrappers)}"""', ""]
    else:
        note = (
            "no chat template"
            if not getattr(tokenizer, "chat_template", None)
            else ("the chat template could not be converted; prompts go in as they are")
        )
        lines += [f"# {note}", 'TEMPLATE """{{ .Prompt }}"""', ""]
    for stop in stop_tokens(tokenizer, wrappers):
        lines.append(f"PARAMETER stop {json.dumps(stop)}")
    for name, value in sampling.items():
        lines.append(f"PARAMETER {name} {value:g}")
    return "\n".join(lines) + "\n", wrappers is not None


def role_wrappers(tokenizer: PreTrainedTokenizerBase) -> RoleWrappers | None:
    """Each role's (prefix, suffix) read off rendered conversations, or None when the
    template does not wrap messages independently of their place."""
    try:
        user_open = _render(tokenizer, [("user", _U)], True)
        user_closed = _render(tokenizer, [("user", _U)], False)
        chat = _render(tokenizer, [("user", _U), ("assistant", _A), ("user", _V)], True)
    except Exception:  # a template that raises on these conversations: not convertible
        return None
    bos = getattr(tokenizer, "bos_token", None) or ""
    user_pre, user_post = _around(user_closed, _U, bos)
    _, open_tail = _around(user_open, _U, bos)
    if user_pre is None or user_post is None or open_tail is None:
        return None
    if not open_tail.startswith(user_post):
        return None
    generation = open_tail[len(user_post) :]
    expected_head = user_pre + _U + user_post
    if not _strip_bos(chat, bos).startswith(expected_head):
        return None
    rest = _strip_bos(chat, bos)[len(expected_head) :]
    assistant_pre, _, rest = rest.partition(_A)
    assistant_post, _, tail = rest.partition(_V)
    if not assistant_post.endswith(user_pre) or tail != user_post + generation:
        return None
    assistant = (assistant_pre, assistant_post[: len(assistant_post) - len(user_pre)])
    return RoleWrappers(_system_wrapper(tokenizer, bos, user_pre), (user_pre, user_post),
                        assistant, generation)  # fmt: skip


def _system_wrapper(
    tokenizer: PreTrainedTokenizerBase, bos: str, user_pre: str
) -> tuple[str, str] | None:
    try:
        text = _strip_bos(_render(tokenizer, [("system", _S), ("user", _U)], False), bos)
    except Exception:
        return None
    pre, found, rest = text.partition(_S)
    between, found_user, _ = rest.partition(_U)
    if not found or not found_user or not between.endswith(user_pre):
        return None
    return pre, between[: len(between) - len(user_pre)]


def go_template(wrappers: RoleWrappers) -> str:
    """The Go template Ollama renders a conversation with."""
    parts = ["{{- range $i, $_ := .Messages }}",
             "{{- $last := eq (len (slice $.Messages $i)) 1 }}"]  # fmt: skip
    branches = []
    if wrappers.system is not None:
        pre, post = wrappers.system
        branches.append(('"system"', f"{_lit(pre)}{{{{ .Content }}}}{_lit(post)}"))
    pre, post = wrappers.user
    user = f"{_lit(pre)}{{{{ .Content }}}}{_lit(post)}{{{{ if $last }}}}{_lit(wrappers.generation)}{{{{ end }}}}"
    branches.append(('"user"', user))
    pre, post = wrappers.assistant
    assistant = f"{_lit(pre)}{{{{ .Content }}}}{{{{ if not $last }}}}{_lit(post)}{{{{ end }}}}"
    branches.append(('"assistant"', assistant))
    for index, (role, body) in enumerate(branches):
        keyword = "if" if index == 0 else "else if"
        parts.append(f"{{{{ {keyword} eq .Role {role} }}}}{body}")
    parts.append("{{ end }}{{ end }}")
    return "".join(parts)


def stop_tokens(tokenizer: PreTrainedTokenizerBase, wrappers: RoleWrappers | None) -> list[str]:
    """EOS, and the special token that closes the model's turn when it is another."""
    stops = []
    eos = getattr(tokenizer, "eos_token", None)
    if eos:
        stops.append(eos)
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    if wrappers is not None:
        closing = wrappers.assistant[1].strip()
        if closing and closing in specials and closing not in stops:
            stops.append(closing)
    return stops


def _lit(text: str) -> str:
    """Literal text in a Go template: '{{' would open an action, so it is escaped."""
    return text.replace("{{", '{{ "{{" }}')


def _render(
    tokenizer: PreTrainedTokenizerBase, messages: list[tuple[str, str]], generation: bool
) -> str:
    chat = [{"role": role, "content": content} for role, content in messages]
    # tokenize=False renders one string (the stubs also allow token ids).
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=generation)
    return cast(str, text)


def _strip_bos(text: str, bos: str) -> str:
    """Without a leading BOS: llama.cpp adds it itself when the vocabulary says so."""
    return text[len(bos) :] if bos and text.startswith(bos) else text


def _around(text: str, marker: str, bos: str) -> tuple[str | None, str | None]:
    head, found, tail = _strip_bos(text, bos).partition(marker)
    return (head, tail) if found else (None, None)
