"""Packed batches of stored text (core.model.packing): the same log-probs and gradients as
padded ones, with fewer tokens, and padded batches for a model that cannot be packed."""

from __future__ import annotations

import pytest
import torch

from core.config import ModelSpec
from core.model.packing import lane_tokens, pack
from core.model.session import ModelSession
from core.offline.batching import SequenceTable, response_logps

PROMPTS = ["Hi", "Write a short review of the film:", "Rate it", "Why?"]
RESPONSES = ["It was a long, slow and rather lovely evening.", "Great.", "Fine.", "Because."]


def lora_session(folder) -> ModelSession:
    torch.manual_seed(0)
    session = ModelSession.load(ModelSpec(name_or_path=str(folder), device="cpu"))
    # A non-zero adapter, so that the adapter's gradients carry information.
    with torch.no_grad():
        for name, parameter in session.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.02)
    return session


def logps_and_grads(session, table, indices):
    session.model.zero_grad()
    logps = response_logps(session.model, table.batch(indices))
    (logps.sum(dim=1) * torch.arange(1.0, len(indices) + 1)).sum().backward()
    grads = {
        name: parameter.grad.clone()
        for name, parameter in session.model.named_parameters()
        if parameter.grad is not None
    }
    return logps.detach(), grads


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_packed_rows_give_the_padded_log_probs_and_gradients(tiny_model_dirs, family):
    session = lora_session(tiny_model_dirs[family])
    assert lane_tokens(session.model) == 32  # the tiny models' hidden size
    packed = SequenceTable(session, PROMPTS, RESPONSES, max_response_tokens=32)
    padded = SequenceTable(session, PROMPTS, RESPONSES, max_response_tokens=32, packing=False)
    indices = [0, 1, 2, 3]
    batch = packed.batch(indices)
    assert batch.packed is not None and batch.input_ids is None
    padded_batch = padded.batch(indices)
    assert batch.packed.input_ids.numel() < padded_batch.input_ids.numel()

    packed_logps, packed_grads = logps_and_grads(session, packed, indices)
    padded_logps, padded_grads = logps_and_grads(session, padded, indices)
    assert packed_logps.shape == padded_logps.shape
    assert torch.allclose(packed_logps, padded_logps, atol=1e-5)
    assert (packed_logps != 0).sum() == padded_batch.response_mask.sum()  # every real token
    assert packed_grads.keys() == padded_grads.keys() and packed_grads
    for name, grad in packed_grads.items():
        assert torch.allclose(grad, padded_grads[name], atol=1e-5), name
    # The reference pass (adapter off) packs too, and is cached per row as before.
    assert torch.allclose(
        packed.reference_logps(indices, 4), padded.reference_logps(indices, 4), atol=1e-5
    )


def test_lanes_hold_whole_rows_up_to_their_capacity_and_mark_every_target():
    rows = [[11] * 9, [12] * 3, [13] * 4, [14] * 5, [15] * 2]
    answers = [4, 1, 2, 5, 1]
    packed = pack(rows, answers, lane_capacity=10, pad_id=0, device=torch.device("cpu"))
    assert packed is not None
    lanes, width = packed.input_ids.shape
    assert width <= 10 and lanes * width < len(rows) * 9
    flat_ids = packed.input_ids.flatten()
    assert torch.equal(flat_ids[packed.predicting + 1], packed.targets)
    expected = [token for row, answer in zip(rows, answers, strict=True) for token in row[-answer:]]
    assert packed.targets.tolist() == expected
    seen = [token for token in packed.input_ids.flatten().tolist() if token > 10]
    assert sorted(seen) == sorted(token for row in rows for token in row)  # whole rows, once
    for lane_ids, lane_positions in zip(packed.input_ids, packed.position_ids, strict=True):
        # each row keeps its own positions 0..len-1, in one lane
        for token in {11, 12, 13, 14, 15} & set(lane_ids.tolist()):
            where = (lane_ids == token).nonzero().flatten()
            assert lane_positions[where].tolist() == list(range(len(rows[token - 11])))


def test_rows_of_one_length_stay_padded():
    rows = [[7] * 6, [8] * 6, [9] * 6]
    assert pack(rows, [2, 2, 2], lane_capacity=6, pad_id=0, device=torch.device("cpu")) is None


def test_a_model_that_reads_no_restarting_positions_is_batched_padded(tiny_model_dir, monkeypatch):
    session = lora_session(tiny_model_dir)
    body = session.model.get_base_model().transformer
    forward = body.forward

    def without_positions(*args, position_ids=None, **kwargs):
        return forward(*args, **kwargs)  # GPT-2 then numbers the packed row 0..L-1

    monkeypatch.setattr(body, "forward", without_positions)
    assert lane_tokens(session.model) == 0
    table = SequenceTable(session, PROMPTS, RESPONSES, max_response_tokens=32)
    assert table.batch([0, 1, 2, 3]).packed is None


def test_the_one_time_check_leaves_every_module_in_its_own_mode(tiny_model_dir):
    """An update keeps the model in eval mode and only its decoder layers in training
    mode (gradient checkpointing's recompute needs that): the check must not undo it."""
    session = lora_session(tiny_model_dir)
    model = session.model
    model.eval()
    layers = list(model.get_base_model().transformer.h)
    for layer in layers:
        layer.training = True
    assert lane_tokens(model) == 32
    assert all(layer.training for layer in layers)
    assert not model.training and not model.get_base_model().transformer.wte.training
