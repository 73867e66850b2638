"""Quotas: requests and tokens per minute, and token or cost budgets per day or month, per key.

Pure bookkeeping on the event loop: ``admit`` runs before a call (raising
``RateLimited`` with the seconds to wait), ``record`` after it, with the tokens
it really used (streamed and cancelled calls included). Minute windows slide
over the last 60 seconds of this process; a budget's spend in the current UTC
day or month is read from the usage table once per key and period (``load``),
then kept current by ``record``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from openmaas.errors import RateLimited

WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class Quota:
    """A key's limits; None: none."""

    max_requests_per_minute: int | None = None
    max_tokens_per_minute: int | None = None
    max_budget_tokens: int | None = None
    max_budget_cost: float | None = None
    budget_period: str = "month"

    @property
    def has_budget(self) -> bool:
        return self.max_budget_tokens is not None or self.max_budget_cost is not None

    @property
    def is_unlimited(self) -> bool:
        return self.max_requests_per_minute is None and self.max_tokens_per_minute is None and not self.has_budget


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day or month holding now: (start, end)."""
    if period == "day":
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


@dataclass(slots=True)
class _KeyState:
    requests: deque[float] = field(default_factory=deque)
    # (monotonic time, tokens) of calls that ended.
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    num_window_tokens: int = 0
    period_start: datetime | None = None
    period_tokens: int = 0
    period_cost: float = 0.0


class QuotaTracker:
    """Per-key counters for the limits of ``Quota``."""

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._keys: dict[str, _KeyState] = {}

    def needs_load(self, key_id: str, quota: Quota) -> datetime | None:
        """The start of the budget period whose spend must be loaded first, or None."""
        if not quota.has_budget:
            return None
        start, _ = period_bounds(quota.budget_period, self._wall_clock())
        state = self._keys.get(key_id)
        return None if state is not None and state.period_start == start else start

    def load(self, key_id: str, period_start: datetime, tokens: int, cost: float) -> None:
        state = self._keys.setdefault(key_id, _KeyState())
        state.period_start = period_start
        state.period_tokens = tokens
        state.period_cost = cost

    def admit(self, key_id: str, quota: Quota) -> None:
        """Counts one request, or raises RateLimited (429) with the seconds until it would pass."""
        if quota.is_unlimited:
            return
        now = self._clock()
        state = self._keys.setdefault(key_id, _KeyState())
        self._expire(state, now)
        if quota.has_budget:
            wall = self._wall_clock()
            _, end = period_bounds(quota.budget_period, wall)
            if quota.max_budget_tokens is not None and state.period_tokens >= quota.max_budget_tokens:
                raise RateLimited(
                    f"Token budget of this key for the {quota.budget_period} is spent "
                    f"({state.period_tokens} of {quota.max_budget_tokens} tokens)",
                    retry_after=(end - wall).total_seconds(),
                )
            if quota.max_budget_cost is not None and state.period_cost >= quota.max_budget_cost:
                raise RateLimited(
                    f"Cost budget of this key for the {quota.budget_period} is spent",
                    retry_after=(end - wall).total_seconds(),
                )
        if quota.max_requests_per_minute is not None and len(state.requests) >= quota.max_requests_per_minute:
            index = len(state.requests) - quota.max_requests_per_minute
            # A limit of 0 refuses everything: there is no earlier request whose expiry frees a place.
            retry_after = state.requests[index] + WINDOW - now if state.requests else WINDOW
            raise RateLimited(
                f"Rate limit of this key reached: {quota.max_requests_per_minute} requests per minute",
                retry_after=math.ceil(max(retry_after, 1.0)),
            )
        if quota.max_tokens_per_minute is not None and state.num_window_tokens >= quota.max_tokens_per_minute:
            raise RateLimited(
                f"Rate limit of this key reached: {quota.max_tokens_per_minute} tokens per minute",
                retry_after=math.ceil(max(self._tokens_free_after(state, quota.max_tokens_per_minute, now), 1.0)),
            )
        state.requests.append(now)

    def admit_or_load(self, key_id: str, quota: Quota) -> datetime | None:
        """admit, or the start of the budget period whose spend must be loaded first (nothing counted then)."""
        period_start = self.needs_load(key_id, quota)
        if period_start is None:
            self.admit(key_id, quota)
        return period_start

    def record(self, key_id: str, num_tokens: int, cost: float) -> None:
        """Counts a finished call's tokens (prompt + completion) and cost."""
        state = self._keys.get(key_id)
        if state is None:
            return
        if num_tokens:
            state.tokens.append((self._clock(), num_tokens))
            state.num_window_tokens += num_tokens
        state.period_tokens += num_tokens
        state.period_cost += cost

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def _expire(self, state: _KeyState, now: float) -> None:
        while state.requests and state.requests[0] <= now - WINDOW:
            state.requests.popleft()
        while state.tokens and state.tokens[0][0] <= now - WINDOW:
            state.num_window_tokens -= state.tokens.popleft()[1]

    @staticmethod
    def _tokens_free_after(state: _KeyState, limit: int, now: float) -> float:
        remaining = state.num_window_tokens
        for when, tokens in state.tokens:
            remaining -= tokens
            if remaining < limit:
                return when + WINDOW - now
        return WINDOW


# Reads a key's spend (tokens, cost) since a period's start from the usage table.
SpendLoader = Callable[[datetime], Awaitable[tuple[int, float]]]


class SharedQuotas(Protocol):
    """Quota counters shared by every server process of a cluster (cluster mode), in place of each
    process's own ``QuotaTracker``: the same rules, counted in one place."""

    async def admit(self, key_id: str, quota: Quota, load_spend: SpendLoader) -> None:
        """As QuotaTracker.admit (RateLimited when over), loading the period's spend first when needed."""
        ...

    def record(self, key_id: str, num_tokens: int, cost: float) -> None:
        """As QuotaTracker.record; may be sent without waiting."""
        ...
