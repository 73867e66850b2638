"""Request: one generation's state inside the engine."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from openmaas.engine.detokenizer import IncrementalDetokenizer
from openmaas.engine.messages import FinishReason
from openmaas.engine.sampling_params import SamplingParams


class TokenConstraint(Protocol):
    """Structured output's view of a request: which tokens may come next."""

    def fill_mask(self, out: np.ndarray | None = None) -> np.ndarray:
        """The tokens allowed next, as a bitmask of int32 words (llguidance's layout)."""

    def accept(self, token_id: int) -> bool: ...

    def is_finished(self) -> bool:
        """The output is complete: the request must stop."""


class RequestStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(slots=True, eq=False)
class Request:
    """A request from admission to its last token.

    ``token_ids`` holds the prompt followed by every sampled token;
    ``num_computed_tokens`` of them have their KV in the request's slot. One
    scheduling rule covers prefill, chunked prefill, prefix-cache hits and
    decode alike: compute ``token_ids[num_computed_tokens:]``.
    """

    request_id: str
    token_ids: list[int]
    num_prompt_tokens: int
    params: SamplingParams
    # max_tokens after clamping to the context the prompt leaves.
    max_tokens: int
    stop_token_ids: frozenset[int]
    detokenizer: IncrementalDetokenizer
    rng: np.random.Generator
    arrival_time: float = field(default_factory=time.monotonic)
    status: RequestStatus = RequestStatus.WAITING
    num_computed_tokens: int = 0
    num_cached_tokens: int = 0
    slot_id: int | None = None
    finish_reason: FinishReason | None = None
    stop_reason: str | int | None = None
    constraint: TokenConstraint | None = None
    # A session keeps the request's KV when it ends, for a later request that continues it.
    session_id: str | None = None
    # time.monotonic() past which the request ends (finish reason "length"); None: no limit.
    deadline: float | None = None

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def prompt_token_ids(self) -> list[int]:
        return self.token_ids[: self.num_prompt_tokens]

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def is_prefilling(self) -> bool:
        return self.num_computed_tokens < self.num_prompt_tokens

    @property
    def is_finished(self) -> bool:
        return self.status is RequestStatus.FINISHED
