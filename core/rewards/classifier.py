"""A reward model folder: a Hugging Face sequence-classification model with its own tokenizer.

The reward model reads decoded text (prompt + response, then the end-of-text token when
the trainer that made the model appended one: core.reward_model.folder's convention, read from the
folder), never the policy's token ids, so its tokenizer may differ from the policy's. Scores are the raw logit for one label,
or logit[1] - logit[0] (the log-odds of "good") for two labels.

The folder is checked before loading: a causal LM folder would otherwise load "fine"
with a randomly initialised score head and hand PPO noise as a reward.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
)

from core.errors import RewardError
from core.reward_model.fit import encode_inputs
from core.reward_model.folder import appends_eos, chat_input, reads_chat, reward_input
from core.rewards.base import check_batch, check_scores, resolve_device

_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForMaskedLM")
_FIX = (
    "give a folder saved from AutoModelForSequenceClassification.save_pretrained (with its "
    "tokenizer), e.g. one trained by `train-rm`"
)


def _check_folder(folder: Path) -> PretrainedConfig:
    """The folder's config if it holds a 1- or 2-label sequence classifier, else RewardError."""
    if not folder.is_dir():
        raise RewardError(f"rm={folder}: no such folder; {_FIX}.")
    if not (folder / "config.json").is_file():
        raise RewardError(f"rm={folder}: the folder has no config.json, so it is no model; {_FIX}.")
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise RewardError(f"rm={folder}: unreadable config.json ({error}); {_FIX}.") from None
    architectures = list(getattr(config, "architectures", None) or [])
    if not any(arch.endswith("ForSequenceClassification") for arch in architectures):
        if any(arch.endswith(_LM_SUFFIXES) for arch in architectures):
            raise RewardError(
                f"rm={folder}: this is a language model ({', '.join(architectures)}), not a "
                f"reward model. Use it as the policy or with fluency={folder}, or train a reward "
                f"model from your comparisons; rm= needs a sequence classifier: {_FIX}."
            )
        shown = ", ".join(architectures) or "none listed in config.json"
        raise RewardError(f"rm={folder}: not a sequence-classification model ({shown}); {_FIX}.")
    if config.num_labels not in (1, 2):
        raise RewardError(
            f"rm={folder}: the classifier has {config.num_labels} labels; a reward model has 1 "
            f"(a score) or 2 (bad, good). Retrain or export it with num_labels=1."
        )
    return config


def _max_length(tokenizer, config) -> int:
    """Longest input the model accepts: the tokenizer's limit, capped by the position table."""
    limits = [tokenizer.model_max_length]
    for key in ("max_position_embeddings", "n_positions"):
        if isinstance(getattr(config, key, None), int):
            limits.append(getattr(config, key))
    return min(limits)


class ClassifierReward:
    """Scores prompt + response with a sequence-classification reward model."""

    name = "rm"

    def __init__(
        self,
        folder: str | Path,
        device: str = "auto",
        batch_size: int = 8,
        prompt_format: str = "plain",
    ) -> None:
        self.folder = Path(folder).expanduser()
        config = _check_folder(self.folder)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        except (OSError, ValueError) as error:
            raise RewardError(
                f"rm={self.folder}: no usable tokenizer in the folder ({error}); save the "
                f"tokenizer next to the model with tokenizer.save_pretrained(folder)."
            ) from None
        if len(self.tokenizer.get_vocab()) <= len(self.tokenizer.all_special_ids):
            # transformers builds an empty tokenizer of the model's type when the files are gone
            raise RewardError(
                f"rm={self.folder}: the folder has no tokenizer files; save the tokenizer next to "
                f"the model with tokenizer.save_pretrained(folder)."
            )
        try:
            model = AutoModelForSequenceClassification.from_pretrained(self.folder)
        except (OSError, ValueError, RuntimeError) as error:
            raise RewardError(
                f"rm={self.folder}: the weights could not be loaded ({error}); {_FIX}."
            ) from None
        embeddings = model.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > embeddings:
            raise RewardError(
                f"rm={self.folder}: the tokenizer has {len(self.tokenizer)} tokens but the model "
                f"only {embeddings}; save the tokenizer the model was trained with into the folder."
            )
        if self.tokenizer.pad_token is None and self.tokenizer.eos_token is not None:
            self.tokenizer.pad_token = self.tokenizer.eos_token  # GPT-style tokenizers have none
        if model.config.pad_token_id is None:
            # Decoder classifiers (GPT2ForSequenceClassification...) find each row's last real
            # token through pad_token_id and refuse batches larger than one without it.
            model.config.pad_token_id = self.tokenizer.pad_token_id
        # Keep the end of long inputs: the response is what is being judged.
        self.tokenizer.truncation_side = "left"
        # Right padding keeps every row's positions 0..n-1, so a padded batch scores exactly
        # like single texts; with left padding absolute position embeddings (GPT-2) shift.
        self.tokenizer.padding_side = "right"
        self.max_length = _max_length(self.tokenizer, config)
        append, self.input_convention = appends_eos(self.folder)
        self.eos_token = self.tokenizer.eos_token if append else None
        """Appended to every input (None: the text as it is), as the model was trained."""
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.chat = reads_chat(self.folder, prompt_format, has_template)
        """Inputs go through the chat template (conversational rows, as TRL reads them)."""
        if self.chat:
            self.input_convention = "the chat template (conversational rows, as TRL reads them)"
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.num_labels = config.num_labels
        self.batch_size = batch_size
        self._lock = threading.Lock()  # the GUI and a trainer thread may score at once

    def _score_batch(self, texts: list) -> list[float]:
        encoded = encode_inputs(self.tokenizer, texts, self.max_length)
        logits = self.model(
            input_ids=encoded["input_ids"].to(self.device),
            attention_mask=encoded["attention_mask"].to(self.device),
        ).logits.float()  # (B, num_labels)
        if self.num_labels == 1:
            return logits[:, 0].tolist()
        return (logits[:, 1] - logits[:, 0]).tolist()

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """Reward-model score of each prompt + response, in batches of `batch_size`."""
        check_batch(prompts, responses)
        if self.model is None:
            raise RewardError("The reward model was closed; build the reward again.")
        texts = self._inputs(prompts, responses)
        scores: list[float] = []
        # no_grad here, not in the caller: grad mode is per thread and PPO's may have it on.
        with self._lock, torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                scores += self._score_batch(texts[start : start + self.batch_size])
        return check_scores(self.name, scores, len(responses))

    def features(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """(N, H) what the score head reads for each prompt + response (core.reward_model.features):
        the reward is a linear function of it, which active labelling refits cheaply."""
        from core.reward_model.features import pooled_features

        check_batch(prompts, responses)
        if self.model is None:
            raise RewardError("The reward model was closed; build the reward again.")
        texts = self._inputs(prompts, responses)
        with self._lock:
            return pooled_features(self.model, self.tokenizer, texts, self.max_length,
                                   self.batch_size)  # fmt: skip

    def _inputs(self, prompts: Sequence[str], responses: Sequence[str]) -> list:
        """What the model reads: chat token ids, or prompt + response (+ end-of-text)."""
        return [
            chat_input(self.tokenizer, prompt, response)
            if self.chat
            else reward_input(prompt, response, self.eos_token)
            for prompt, response in zip(prompts, responses, strict=True)
        ]

    def close(self) -> None:
        """Drop the model and free its memory."""
        self.model = None
        from core.model.session import release_memory

        release_memory()
