"""The plain data that crosses the engine boundary.

Only these types pass between the engine and the layers above, so the core
can move from a thread to a process without the API noticing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from openmaas.engine.logprobs import TokenLogprob


class FinishReason(enum.StrEnum):
    STOP = "stop"
    LENGTH = "length"
    ABORT = "abort"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """What one engine step produced for one request.

    ``text`` and ``token_ids`` are the delta since the previous output.
    ``finish_reason`` is set on the last output of a request only.
    """

    request_id: str
    text: str
    token_ids: tuple[int, ...]
    num_prompt_tokens: int
    num_cached_tokens: int
    num_output_tokens: int
    finish_reason: FinishReason | None = None
    # The stop string or stop token that ended the request, when one did.
    stop_reason: str | int | None = None
    error: str | None = None
    # One entry per token in token_ids, when the request asked for logprobs.
    logprobs: tuple[TokenLogprob, ...] = ()

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters since the engine started; read by tests, benchmarks and metrics."""

    num_steps: int
    num_batched_steps: int  # steps that decoded more than one sequence together
    max_running_in_step: int
    num_prompt_tokens: int  # prompt tokens the requests asked for
    num_computed_prompt_tokens: int  # prompt tokens actually run through the model
    num_cached_prompt_tokens: int  # prompt tokens taken from the prefix cache
    num_generated_tokens: int
    num_running: int
    num_waiting: int
    num_free_slots: int
    num_cached_slots: int
    num_total_slots: int
    num_session_resumes: int = 0  # requests that continued from the KV their session kept
    # Whether the start-up probe found padded decode steps bit-identical at any load (engine/invariance.py):
    # what a request's seed promises on this machine.
    seed_invariant: bool = True
