"""Seeded batch invariance at its root: one probe sequence's logits, bit for bit, at every batch size."""

from __future__ import annotations

import numpy as np

from openmaas.engine import EngineClient
from openmaas.engine.core import EngineCore
from openmaas.engine.invariance import probe_logits

NUM_STEPS = 6


def test_probe_logits_are_bit_identical_alone_and_in_batches_of_every_size(engine: EngineClient) -> None:
    def probe_every_size(core: EngineCore) -> dict[int, list[np.ndarray]]:
        slots = core.config.num_decode_slots
        return {
            num_rows: probe_logits(core.runner, num_rows=num_rows, num_decode_slots=slots, num_steps=NUM_STEPS)
            for num_rows in range(1, core.config.max_num_seqs + 1)
        }

    by_size = engine.call_in_engine(probe_every_size).result(timeout=600)
    assert len(by_size) == engine.config.max_num_seqs == 32
    alone = by_size[1]
    differing = {
        num_rows: [step for step in range(NUM_STEPS) if not np.array_equal(alone[step], logits[step])]
        for num_rows, logits in by_size.items()
    }
    assert {num_rows: steps for num_rows, steps in differing.items() if steps} == {}


def test_the_start_up_probe_reports_the_guarantee(engine: EngineClient) -> None:
    stats = engine.call_in_engine(lambda core: core.stats()).result(timeout=60)
    assert stats.seed_invariant is True
