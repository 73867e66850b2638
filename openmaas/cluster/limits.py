"""Limits shared by every ingress replica: one Serve deployment holds the quota counters.

Each ingress replica's Authenticator asks the ``Limits`` replica (one round trip per call)
instead of its own QuotaTracker, so an RPM of 3 is 3 across the cluster, not 3 per replica.
The replica runs the admits one at a time on its event loop: a burst cannot overshoot. Its
counters live in memory: if it is restarted, the minute windows start empty (budgets are
reloaded from the usage table).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ray.serve.handle import DeploymentHandle

from openmaas.control.db import utcnow
from openmaas.control.quotas import Quota, QuotaTracker, SpendLoader
from openmaas.errors import RateLimited


class Limits:
    """The cluster's quota counters (a Serve deployment of exactly one replica)."""

    def __init__(self) -> None:
        self._tracker = QuotaTracker(time.monotonic, utcnow)

    # async, with no await inside: each call runs whole on the replica's event loop, one at a time.
    async def admit(self, key_id: str, quota: Quota) -> datetime | RateLimited | None:
        """None: admitted; RateLimited: refused (sent back as a value); a datetime: load that period's spend."""
        try:
            return self._tracker.admit_or_load(key_id, quota)
        except RateLimited as exc:
            return exc

    async def load(self, key_id: str, period_start: datetime, tokens: int, cost: float) -> None:
        self._tracker.load(key_id, period_start, tokens, cost)

    async def record(self, key_id: str, num_tokens: int, cost: float) -> None:
        self._tracker.record(key_id, num_tokens, cost)


class LimitsClient:
    """SharedQuotas over the Limits deployment (what an ingress replica's Authenticator is given)."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self._handle = handle

    async def admit(self, key_id: str, quota: Quota, load_spend: SpendLoader) -> None:
        while True:
            answer = await self._handle.admit.remote(key_id, quota)
            if answer is None:
                return
            if isinstance(answer, RateLimited):
                raise answer
            tokens, cost = await load_spend(answer)
            await self._handle.load.remote(key_id, answer, tokens, cost)

    def record(self, key_id: str, num_tokens: int, cost: float) -> None:
        # Not awaited: the call's row does not wait for the counter.
        self._handle.record.remote(key_id, num_tokens, cost)
