"""Checking, on the machine the engine runs on, that padded decode steps keep a sequence's logits exact.

The padding rule (engine/padding.py) follows from how llama.cpp's CPU kernels
split a batch's rows. A build of llama.cpp with other kernels could break it,
so the engine checks it once at start (a few steps at two batch sizes) and
says so if it fails, instead of promising what it does not deliver; the
tests run the same probe at every batch size.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

# Any ordinary text works: the probe compares a sequence with itself, never with expected values.
PROBE_PROMPT = "The quick brown fox jumps over the lazy dog. Then it runs into the forest and"
FILLER_PROMPT = "Once upon a time, in a small village by the sea, there lived"


class ProbeRunner(Protocol):
    """What the probe needs from a runner (runners/llama_cpp.py)."""

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]: ...
    def run_prompt_chunk(self, slot: int, tokens: list[int], start: int, wants_logits: bool) -> np.ndarray | None: ...
    def run_decode(self, rows: list[tuple[int, int, int]], pad_slots: list[int], *, pad: bool) -> np.ndarray: ...
    def copy_sequence(self, src_slot: int, dst_slot: int) -> None: ...
    def trim_sequence(self, slot: int, num_keep: int) -> None: ...


def probe_logits(runner: ProbeRunner, *, num_rows: int, num_decode_slots: int, num_steps: int) -> list[np.ndarray]:
    """The probe sequence's logits over num_steps padded decode steps of num_rows real rows.

    Uses slots [0, num_decode_slots), which must be free, and frees them
    again. The probe sits in the last row, where an unpadded step would send
    it through the kernels' leftover paths; the other rows are one filler
    sequence copied into each slot. The probe's tokens are forced (its own
    prompt again), so every batch size decodes the very same sequence.
    """
    if not 1 <= num_rows <= num_decode_slots:
        raise ValueError(f"num_rows must be in [1, {num_decode_slots}]")
    probe = _aligned(runner.tokenize(PROBE_PROMPT, add_special=True, parse_special=False))
    filler = _aligned(runner.tokenize(FILLER_PROMPT, add_special=True, parse_special=False))
    probe_slot = num_rows - 1
    try:
        if num_rows > 1:
            runner.run_prompt_chunk(0, filler, 0, False)
            for slot in range(1, probe_slot):
                runner.copy_sequence(0, slot)  # lands with the next decode
        runner.run_prompt_chunk(probe_slot, probe, 0, False)
        pad_slots = list(range(num_rows, num_decode_slots))
        logits = []
        for step in range(num_steps):
            rows = [(slot, filler[step % len(filler)], len(filler) + step) for slot in range(probe_slot)]
            rows.append((probe_slot, probe[step % len(probe)], len(probe) + step))
            logits.append(runner.run_decode(rows, pad_slots, pad=True)[probe_slot].copy())
        return logits
    finally:
        for slot in range(num_rows):
            runner.trim_sequence(slot, 0)


def check_seed_invariance(runner: ProbeRunner, *, num_decode_slots: int, num_steps: int = 4) -> bool:
    """Whether the probe's logits alone equal its logits in a full decode step, bit for bit."""
    alone = probe_logits(runner, num_rows=1, num_decode_slots=num_decode_slots, num_steps=num_steps)
    full = probe_logits(runner, num_rows=num_decode_slots, num_decode_slots=num_decode_slots, num_steps=num_steps)
    holds = all(np.array_equal(a, b) for a, b in zip(alone, full, strict=True))
    if not holds:
        logger.warning(
            "seeded requests are NOT batch-invariant on this machine: a sequence's logits alone differ from "
            "its logits among %d rows; a seed then gives reproducible tokens only at the same load",
            num_decode_slots,
        )
    return holds


def _aligned(tokens: list[int]) -> list[int]:
    # A multiple of 4 tokens: the prompt chunk then needs no padding rows of its own.
    return tokens[: len(tokens) - len(tokens) % 4]
