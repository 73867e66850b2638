"""QueueControl: which calls a model's queue admits, by size, by share and by expected wait.

A request is queued from admission (or, without one, from ``generate``) to its first
output. The event loop owns this state (``EngineClient`` calls it from coroutines only),
so it needs no lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from openmaas.engine.admission import Admission
from openmaas.engine.config import EngineConfig
from openmaas.engine.service_rate import ServiceRate
from openmaas.errors import InvalidRequest, QueueFull


@dataclass(slots=True)
class _Queued:
    num_requests: int = 0
    num_prompt_tokens: int = 0


class QueueControl:
    """Admission rules of one model's queue, applied before an answer starts.

    - **Call size.** A call brings at most ``max_requests_per_call`` requests (prompts
      times ``n``) and at most a quarter of ``max_queued_prompt_tokens``: one call never
      fills the queue; a larger one is the client's error (400), whatever the load.
    - **Share.** Past ``max_queued_requests`` or ``max_queued_prompt_tokens``, a call is
      refused (429) unless its tenant (API key) holds less than an equal share of what is
      queued: one key's burst cannot shut out another key's single request. Twice the
      caps is a hard bound, whatever the shares.
    - **Expected wait.** A call whose first request would wait longer than
      ``max_queue_wait`` for its first token is refused (429), the wait being its place
      in the round robin between tenants (``FairQueue``) times the measured time
      between departures (``ServiceRate``).
    """

    def __init__(self, config: EngineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self.rate = ServiceRate()
        self._by_tenant: dict[str, _Queued] = {}
        self.num_queued = 0
        self.num_queued_prompt_tokens = 0

    # Sizes ------------------------------------------------------------------------
    @property
    def max_requests_per_call(self) -> int:
        return min(self._config.max_requests_per_call, self._config.max_queued_requests)

    @property
    def max_prompt_tokens_per_call(self) -> int:
        return max(self._config.max_model_len, self._config.max_queued_prompt_tokens // 4)

    def check_call_size(self, num_requests: int, num_prompt_tokens: int = 0, *, param: str | None = None) -> None:
        """Raises InvalidRequest (400) for a call too large to queue at all; cheap, so callers
        check the number of requests before tokenizing anything."""
        if num_requests > self.max_requests_per_call:
            raise InvalidRequest(
                f"this call asks for {num_requests} generations (prompts times n); "
                f"at most {self.max_requests_per_call} are accepted in one call",
                param=param,
            )
        if num_prompt_tokens > self.max_prompt_tokens_per_call:
            raise InvalidRequest(
                f"this call's prompts hold {num_prompt_tokens} tokens; at most "
                f"{self.max_prompt_tokens_per_call} are accepted in one call",
                param=param,
            )

    # Admission ----------------------------------------------------------------------
    def admit(self, tenant: str, num_requests: int, num_prompt_tokens: int) -> Admission:
        """Checks a call and reserves its room in one step (no await between), or raises."""
        self.check_call_size(num_requests, num_prompt_tokens)
        config = self._config
        own = self._by_tenant.get(tenant, _Queued())
        num_tenants = len(self._by_tenant) + (tenant not in self._by_tenant)
        over_share = own.num_requests * num_tenants >= self.num_queued
        too_many = self.num_queued + num_requests > config.max_queued_requests * (1 if over_share else 2)
        over_token_share = own.num_prompt_tokens * num_tenants >= self.num_queued_prompt_tokens
        too_long = self.num_queued_prompt_tokens + num_prompt_tokens > config.max_queued_prompt_tokens * (
            1 if over_token_share else 2
        )
        if too_many or too_long:
            raise QueueFull(
                f"this model's queue is full ({self.num_queued} requests, {self.num_queued_prompt_tokens} "
                "prompt tokens waiting); retry later",
                retry_after=self._retry_after(self.num_queued),
            )
        wait = self.expected_wait(tenant)
        if wait is not None and wait > config.max_queue_wait:
            raise QueueFull(
                f"this model's queue would make this call wait about {math.ceil(wait)} s for a first token "
                f"(the bound is {config.max_queue_wait:g} s); retry later",
                retry_after=wait - config.max_queue_wait,
            )
        self.enter(tenant, num_requests, num_prompt_tokens)
        return Admission(
            lambda requests, tokens: self.leave(tenant, requests, tokens, is_served=False),
            num_requests,
            num_prompt_tokens,
            tenant=tenant,
        )

    def expected_wait(self, tenant: str) -> float | None:
        """Seconds before a new request of tenant starts (0 on an empty queue), or None while unmeasured.

        Round robin serves, before it, its tenant's requests already queued and, of each other
        tenant, one more than that, up to what each has queued.
        """
        seconds = self.rate.seconds_per_request()
        if seconds is None:
            return None
        own = self._by_tenant.get(tenant, _Queued()).num_requests
        ahead = own + sum(min(own + 1, q.num_requests) for t, q in self._by_tenant.items() if t != tenant)
        return ahead * seconds

    def _retry_after(self, num_ahead: int) -> float:
        seconds = self.rate.seconds_per_request()
        if seconds is None:
            # Unmeasured: roughly a round of max_num_seqs per second.
            return 1 + num_ahead // self._config.max_num_seqs
        return max(1.0, num_ahead * seconds)

    # Bookkeeping --------------------------------------------------------------------
    def enter(self, tenant: str, num_requests: int, num_prompt_tokens: int) -> None:
        """Requests join the queue (reserved by admit, or started without an admission)."""
        queued = self._by_tenant.setdefault(tenant, _Queued())
        queued.num_requests += num_requests
        queued.num_prompt_tokens += num_prompt_tokens
        self.num_queued += num_requests
        self.num_queued_prompt_tokens += num_prompt_tokens
        if num_requests > 0:
            self.rate.arrived(self._clock())

    def leave(self, tenant: str, num_requests: int, num_prompt_tokens: int, *, is_served: bool) -> None:
        """Requests leave the queue: served (their first output came) or not (cancelled, given back)."""
        queued = self._by_tenant.get(tenant)
        if queued is not None:
            queued.num_requests -= num_requests
            queued.num_prompt_tokens -= num_prompt_tokens
            if queued.num_requests <= 0:
                del self._by_tenant[tenant]
        self.num_queued -= num_requests
        self.num_queued_prompt_tokens -= num_prompt_tokens
        if is_served:
            self.rate.departed(self._clock(), self.num_queued)
        else:
            self.rate.abandoned(self.num_queued)
