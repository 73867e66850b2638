"""Small factories for model-free engine tests: a recording KV memory and requests."""

from __future__ import annotations

import numpy as np

from openmaas.engine.detokenizer import IncrementalDetokenizer
from openmaas.engine.request import Request
from openmaas.engine.sampling_params import SamplingParams


class RecordingMemory:
    """A KVMemory that only records the operations asked of it."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, int, int]] = []
        # What first_kept_position answers per slot (a sliding-window layer that dropped old positions).
        self.first_kept: dict[int, int] = {}

    def copy_sequence(self, src_slot: int, dst_slot: int) -> None:
        self.ops.append(("copy", src_slot, dst_slot))

    def trim_sequence(self, slot: int, num_keep: int) -> None:
        self.ops.append(("trim", slot, num_keep))

    def first_kept_position(self, slot: int) -> int:
        return self.first_kept.get(slot, 0)

    def take(self) -> list[tuple[str, int, int]]:
        ops, self.ops = self.ops, []
        return ops


def make_request(request_id: str, prompt: list[int]) -> Request:
    return Request(
        request_id=request_id,
        token_ids=list(prompt),
        num_prompt_tokens=len(prompt),
        params=SamplingParams(),
        max_tokens=16,
        stop_token_ids=frozenset(),
        detokenizer=IncrementalDetokenizer(()),
        rng=np.random.default_rng(0),
    )


def tokens(start: int, n: int) -> list[int]:
    return list(range(start, start + n))
