"""How a prompt becomes the token ids a model continues: as plain text, or as a user turn.

Instruction-tuned models (SmolLM2-Instruct, Qwen2.5-Instruct, ...) were trained on chat
transcripts, and answer well only when the prompt is a user message followed by the
assistant header: the "chat" format, built with the tokenizer's own chat template. Base
models continue plain text. Prompts stay plain text everywhere else (store, rewards, exports);
only the ids fed to the model differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.data.trl_rows import conversation_of, prompt_messages
from core.errors import ModelLoadError, StudioError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PROMPT_FORMATS = ("plain", "chat")


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer ships a chat template (its tokenizer_config or chat_template file)."""
    return bool(getattr(tokenizer, "chat_template", None))


def check_prompt_format(
    tokenizer: PreTrainedTokenizerBase, prompt_format: str, model_name: str
) -> None:
    """Raise a ModelLoadError when `prompt_format` is unknown or the tokenizer can't do it."""
    if prompt_format not in PROMPT_FORMATS:
        raise ModelLoadError(
            f"Unknown prompt format {prompt_format!r}: use one of {', '.join(PROMPT_FORMATS)}."
        )
    if prompt_format != "chat":
        return
    if not has_chat_template(tokenizer):
        raise ModelLoadError(
            f"{model_name}'s tokenizer has no chat template, so prompts can't be sent as chat "
            "messages: use the plain prompt format (--prompt-format plain) for this model."
        )
    try:  # a template that cannot render one user turn fails now, not mid-run
        prompt_token_ids(tokenizer, "Hello", "chat")
    except Exception as error:  # jinja errors, raise_exception() in the template, ...
        raise ModelLoadError(
            f"{model_name}'s chat template cannot render a user message ({error}); use "
            "the plain prompt format (--prompt-format plain) for this model."
        ) from error


def prompt_token_ids(
    tokenizer: PreTrainedTokenizerBase, prompt: str, prompt_format: str = "plain"
) -> list[int]:
    """The ids the model continues for `prompt` (with the tokenizer's special tokens)."""
    if prompt_format == "chat":
        # Render to text, then encode without adding special tokens: the template writes
        # its own (e.g. BOS), and tokenizing inside apply_chat_template could add them twice.
        # A stored conversation (system message, earlier turns) is rendered whole.
        text = tokenizer.apply_chat_template(
            prompt_messages(prompt), add_generation_prompt=True, tokenize=False
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def check_plain_prompts(prompts: Any, prompt_format: str) -> None:
    """A conversation (system message or several turns) needs the chat template: refused
    in one line naming the first one when prompts go to the model as plain text."""
    if prompt_format == "chat":
        return
    for index, prompt in enumerate(prompts, start=1):
        if conversation_of(prompt) is not None:
            raise StudioError(
                f"prompt {index} is a conversation (a system message or several turns), which "
                "only a chat template can render; load a model with one and use the chat "
                "prompt format (--prompt-format chat)"
            )
