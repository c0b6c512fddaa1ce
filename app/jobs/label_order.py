"""Compare & Rate's pair order, computed in a job thread (plain Python over core, no Qt):
the stored pairs of a prompt set that no person has compared, in the order chosen
(core.rating.label_order). The reward model loads and runs here, never on the GUI thread."""

from __future__ import annotations

from pathlib import Path

from app.warm_up import wait_for_warm_up
from core.errors import StudioError
from core.rating.label_order import Ordering, order_pairs, unrated_pairs
from core.store import Store


def order_stored_pairs(workspace: Path, set_name: str, order: str, seed: int) -> Ordering | str:
    """The set's unrated pairs in `order`, or one line saying why there is no order (no
    reward model, too few labels, no judge's verdicts): the page shows it as it is."""
    wait_for_warm_up()  # torch and transformers come from the warm-up thread
    with Store.open(workspace) as store:
        prompt_ids = {prompt.id for prompt in store.prompts(set_name)}
        pairs = unrated_pairs(store, prompt_ids)
        try:
            return order_pairs(store, pairs, order, seed=seed, device="auto")
        except StudioError as error:
            return str(error)
