"""Errors whose message is fit to show a user as it is.

Every message says what went wrong and what to do about it. The CLI prints it on one
line and exits non-zero; the GUI shows it in a dialog. Anything that is not a
StudioError is a bug and is reported with its traceback.
"""


class StudioError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ModelLoadError(StudioError):
    """A model folder or hub id that cannot be loaded as asked."""


class InputFileError(StudioError):
    """A malformed prompts, comparisons or config file."""


class RewardError(StudioError):
    """A reward source that cannot be built or returned unusable scores."""


class TrainingError(StudioError):
    """A training run that cannot start or had to stop (NaN, bad config...)."""


def pickle_refusal(path: object) -> str:
    """Why a file holding pickled Python objects is refused, and what to do (one line)."""
    return (
        f"{path} holds pickled Python objects, and RLHF Studio never loads those: unpickling "
        "can run any code its author chose. Use files the studio or save_pretrained wrote "
        "(safetensors, or a torch file of plain tensors)"
    )
