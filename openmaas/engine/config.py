"""EngineConfig: the only configuration the engine sees."""

from __future__ import annotations

import os
from dataclasses import dataclass

from openmaas.engine.padding import padded_decode_rows
from openmaas.errors import InvalidRequest

# llama.cpp aborts the process for a sequence id at or above this (LLAMA_MAX_SEQ).
LLAMA_MAX_SEQ = 256
# KV cache element types llama.cpp can use for both K and V on every backend we build for.
KV_CACHE_TYPES = ("f16", "q8_0")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How one loaded model is served.

    The KV memory is split into sequence slots of ``max_model_len`` cells
    each: ``max_num_seqs``, rounded up to a multiple of 16 for padding rows
    (engine/padding.py), for decoding requests and
    ``num_cache_slots`` for prompts, where each prompt is prefilled and then
    kept as the prefix cache (see kv_cache.py). A request can never run out
    of KV cells, so the scheduler never has to preempt.
    """

    model_path: str
    max_num_seqs: int = 32
    # Token budget of one engine step: one token per decoding request, the rest for prompt chunks.
    max_num_batched_tokens: int = 512
    # Context of one sequence, prompt plus output, in tokens.
    max_model_len: int = 2048
    # Prompt slots: prompts being prefilled, then the prefix cache.
    num_cache_slots: int = 16
    num_threads: int | None = None
    # Prompts are computed in chunks that start at multiples of this, each in
    # its own llama_decode, and cached prefixes are reused in whole chunks:
    # llama.cpp's results depend on the shape of the computation, so a fixed
    # chunk layout gives a prompt the same KV whatever ran beside it and
    # whatever the cache held (docs/determinism.md). 128 prefills about 14%
    # faster than 64 on the reference CPU and costs no memory (256 is faster
    # still, but reuses prefixes only in steps of 256; docs/benchmarks.md).
    prefill_chunk_size: int = 128
    # A waiting request whose prompt shares at least this many more tokens with
    # a prompt still being prefilled waits for that prefill instead of
    # computing the prefix again itself.
    min_defer_prefix: int = 64
    # Admission control: requests waiting for their first token (queued or prefilling), and their
    # prompt tokens, past which a new request is refused at once (QueueFull, 429) instead of waiting.
    max_queued_requests: int = 256
    max_queued_prompt_tokens: int = 262_144
    # Requests one call may bring (prompts times n), so that no call fills the queue (400 past it).
    max_requests_per_call: int = 64
    # Seconds a new call may expect to wait for its first token, from the measured service rate;
    # past it the call is refused (QueueFull, 429) rather than left to wait.
    max_queue_wait: float = 30.0
    # Element type of the KV cache: "f16", or "q8_0" for about half the memory (docs/benchmarks.md
    # measures what it changes in the logprobs).
    kv_cache_type: str = "f16"
    # Keep every position of sliding-window layers (Gemma 3: 15 of 18 layers) instead of their window
    # and a ubatch. Off, a prefix is reused only when its slot still holds the window before it
    # (kv_cache.py); on, any prefix is, for about twice the KV memory on such models.
    swa_full: bool = False

    def __post_init__(self) -> None:
        if self.max_num_seqs < 1:
            raise InvalidRequest("max_num_seqs must be at least 1", param="max_num_seqs")
        if self.num_cache_slots < 1:
            raise InvalidRequest("num_cache_slots must be >= 1", param="num_cache_slots")
        if self.num_seq_slots > LLAMA_MAX_SEQ:
            raise InvalidRequest(
                f"max_num_seqs (rounded up to a multiple of 16) + num_cache_slots must be <= {LLAMA_MAX_SEQ}",
                param="max_num_seqs",
            )
        if self.prefill_chunk_size < 4 or self.prefill_chunk_size % 4:
            raise InvalidRequest("prefill_chunk_size must be a positive multiple of 4", param="prefill_chunk_size")
        if self.max_num_batched_tokens < self.max_num_seqs + self.prefill_chunk_size:
            raise InvalidRequest(
                "max_num_batched_tokens must be >= max_num_seqs + prefill_chunk_size "
                "(every decoding sequence and one prompt chunk fit in a step)",
                param="max_num_batched_tokens",
            )
        if self.max_queued_requests < 1:
            raise InvalidRequest("max_queued_requests must be at least 1", param="max_queued_requests")
        if self.max_queued_prompt_tokens < 1:
            raise InvalidRequest("max_queued_prompt_tokens must be at least 1", param="max_queued_prompt_tokens")
        if self.max_requests_per_call < 1:
            raise InvalidRequest("max_requests_per_call must be at least 1", param="max_requests_per_call")
        if not self.max_queue_wait > 0:
            raise InvalidRequest("max_queue_wait must be positive", param="max_queue_wait")
        if self.kv_cache_type not in KV_CACHE_TYPES:
            raise InvalidRequest(f"kv_cache_type must be one of {', '.join(KV_CACHE_TYPES)}", param="kv_cache_type")
        if self.max_model_len < 16:
            raise InvalidRequest("max_model_len must be at least 16", param="max_model_len")

    @property
    def num_decode_slots(self) -> int:
        """The decode region: room for max_num_seqs requests and the dummy rows that pad their steps."""
        return padded_decode_rows(self.max_num_seqs)

    @property
    def num_seq_slots(self) -> int:
        return self.num_decode_slots + self.num_cache_slots

    @property
    def resolved_num_threads(self) -> int:
        return self.num_threads or max(1, os.cpu_count() or 1)
