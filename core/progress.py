"""Progress reporting that both the CLI (tqdm) and the GUI (Qt signals) can consume.

Long core functions take an optional `progress` callback, called as
`progress(done, total, message)`. Core never knows who is listening.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """The default callback: report nothing."""


@contextmanager
def tqdm_progress(description: str, unit: str = "it") -> Iterator[Progress]:
    """A Progress callback drawing a tqdm bar on stderr, for the CLI.

    The bar shows only on a terminal (disable=None), so piped output and logs stay clean.
    """
    from tqdm import tqdm  # here: the GUI imports this module at start-up and never draws one

    bar = tqdm(desc=description, unit=unit, dynamic_ncols=True, leave=False, disable=None)
    try:

        def update(done: int, total: int, message: str) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            if message:
                bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        yield update
    finally:
        bar.close()
