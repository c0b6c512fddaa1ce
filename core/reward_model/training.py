"""Bradley–Terry reward models: LoRA + a scalar head on any Hugging Face backbone.

Pairs (prompt, chosen, rejected, label) and their loss are core.reward_model.pairs'; the training
loop (epochs, held-out evaluation, early stopping) is core.reward_model.fit's. The model is `AutoModelForSequenceClassification(num_labels=1)` over the backbone: for a
causal LM that is the last non-pad token's hidden state through a linear `score` head
(GPT2ForSequenceClassification, LlamaForSequenceClassification...), for an encoder its
pooled output through `classifier`. LoRA adapts the backbone, the head is trained in full
(PEFT's SEQ_CLS task marks it `modules_to_save`). At the end the adapter is merged and
the plain classifier is saved, so `rm=FOLDER` (core.rewards.classifier) and
`AutoModelForSequenceClassification.from_pretrained(FOLDER)` load it with no studio code.
Inputs are `prompt + response + end-of-text`, right-padded, truncated from the left:
exactly what the `rm=` reward source feeds it, and what TRL's RewardTrainer trains on
(core.reward_model.folder has the convention, and how older and foreign folders are scored).
`rm_meta.json` beside the weights keeps the settings, the metrics per epoch and the ids of
the comparisons used, so the agreement report can measure the model on human labels it
never saw.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.config import RMConfig, to_dict
from core.errors import TrainingError
from core.model.grad_checkpointing import set_gradient_checkpointing
from core.progress import Progress, no_progress
from core.reward_model import fit as rm_fit
from core.reward_model.fit import EpochReport, RMResult, StepReport
from core.reward_model.folder import META_FILE, check_out_folder, read_meta, save_reward_model
from core.reward_model.pairs import PreferencePair, pairs_from_comparisons, split_pairs
from core.train.distributed import current_world

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from core.store import Store

__all__ = [  # the pieces callers know from here (rm_folder's, rm_pairs', rm_fit's)
    "META_FILE",
    "EpochReport",
    "PreferencePair",
    "RMResult",
    "StepReport",
    "pairs_from_comparisons",
    "read_meta",
    "train_reward_model",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- model


def load_backbone(
    base: str, device: torch.device, dtype: torch.dtype
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(classifier with one label, tokenizer) for a backbone folder / hub id / 'demo'.

    A folder that already is a 1-label classifier (an earlier reward model) keeps its
    head, so training on it fine-tunes that reward model.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from core.errors import ModelLoadError
    from core.model.loading import locate
    from core.model.session import resolve_model_path

    path = resolve_model_path(base)
    locate(str(path))  # a missing local folder is named as such, not as a bad hub id
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "score.weight newly initialised" is the point here
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"Cannot load {base!r} as a reward-model backbone ({error}). Give a local model "
            f"folder with config.json and tokenizer files, 'demo', or a cached hub id."
        ) from error
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-style tokenizers ship without one
    # Decoder classifiers find each row's last real token through pad_token_id.
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"  # positions start at 0 for every row, as when scoring
    tokenizer.truncation_side = "left"  # keep the response, which is what is judged
    return model.to(device), tokenizer


def attach_head_lora(model: PreTrainedModel, config: RMConfig) -> PeftModel:
    """Wrap with LoRA on the backbone; PEFT's SEQ_CLS task trains the head in full."""
    from peft import get_peft_model

    from core.model.lora import lora_config

    lora = lora_config(model, config.lora)
    lora.task_type = "SEQ_CLS"  # adds score/classifier to modules_to_save
    with warnings.catch_warnings():
        # PEFT calls a transformers method deprecated in 5.x; nothing for us to change.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        return get_peft_model(model, lora)


def train_reward_model(
    pairs: Sequence[PreferencePair],
    config: RMConfig,
    out: str | Path,
    *,
    device: str = "auto",
    store: Store | None = None,
    source: str = "all",
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    report_to: Sequence[str] = (),
) -> RMResult:
    """Train a Bradley–Terry reward model on `pairs` and save it to `out`.

    Holds out `config.eval_fraction` of the pairs, keeps the weights of the epoch with the
    lowest held-out loss, stops after `config.patience` epochs without improvement, and
    saves a merged sequence classifier plus rm_meta.json. With a `store`, the training is
    a run of kind 'reward_model' whose metrics are the epoch reports. `should_stop` ends
    the training between steps; what was learnt so far is still saved. `report_to` names
    trackers (core.train.reporting) for the epoch metrics; they need a `store` (a run).
    """
    world = current_world()  # several processes: rank 0 alone writes (out, store)
    out = check_out_folder(Path(out)) if world.is_main else Path(out)
    train, held_out = split_pairs(pairs, config.eval_fraction, config.seed)
    callbacks = rm_fit.Callbacks(on_epoch, on_step, should_stop, progress or no_progress)
    # The backbone loads before the run is recorded: a refusal (a backbone that is
    # missing or not a model) leaves no run behind, as for the trainers.
    model, tokenizer = _load_for_training(config, device)
    run_id = None
    if store is not None and world.is_main:
        run_config = {"rm": to_dict(config), "out": str(out), "source": source}
        run_id = store.create_run("reward_model", run_config, name=f"rm {out.name}")
    try:
        callbacks.reporters = _reporters(report_to, store, run_id)
        world.broadcast_parameters(p for p in model.parameters() if p.requires_grad)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate
        )
        result = rm_fit.fit(
            model, tokenizer, optimizer, train, held_out, config, callbacks, store, run_id
        )
        result.folder, result.run_id = out, run_id
        if world.is_main:
            result.meta = save_reward_model(
                model, tokenizer, out, config, source, train, held_out, result
            )
    except BaseException as error:
        if store is not None and run_id is not None:
            status = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
            store.set_run_status(run_id, status, error=str(error) or type(error).__name__)
            _back_up(store, run_id)
        raise
    finally:
        for reporter in callbacks.reporters:
            reporter.close()
    if store is not None and run_id is not None:
        store.set_run_status(run_id, "stopped" if result.stopped else "finished")
        _back_up(store, run_id)
    return result


def _load_for_training(config: RMConfig, device: str) -> tuple[PeftModel, PreTrainedTokenizerBase]:
    """The backbone with its LoRA adapter and scalar head, ready to train on `device`."""
    from core.model.session import pick_device, pick_dtype

    torch_device = pick_device(current_world().device(device))
    torch.manual_seed(config.seed)  # the head's initialisation
    backbone, tokenizer = load_backbone(config.base, torch_device, pick_dtype("auto", torch_device))
    model = attach_head_lora(backbone, config)
    set_gradient_checkpointing(model, config.gradient_checkpointing)
    return model, tokenizer


def _back_up(store: Store, run_id: int) -> None:
    """A rolling backup of the store at the run's end, as every training run takes (the
    documented recovery copies the newest backup over the store: it must hold this run).
    A backup that cannot be written is logged, never a reason to fail the run."""
    from core.errors import StudioError

    try:
        store.backup()
    except StudioError as error:
        log.warning("No backup of %s at the end of run %s: %s", store.path, run_id, error)


def _reporters(report_to: Sequence[str], store: Store | None, run_id: int | None) -> list:
    """The trackers of `report_to`, writing under the run's folder (the run needs a store)."""
    if not report_to or list(report_to) == ["none"]:
        return []
    if store is None:
        raise TrainingError("--report-to needs a workspace store to name the run's folder.")
    if run_id is None:  # a follower rank: rank 0 alone records the run and its reports
        return []
    from core.paths import run_checkpoint_dir
    from core.train.reporting import build_reporters

    return build_reporters(report_to, run_checkpoint_dir(store.workspace, run_id))
