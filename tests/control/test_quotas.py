"""QuotaTracker: requests and tokens per minute, budgets per period, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openmaas.control.quotas import Quota, QuotaTracker, period_bounds
from openmaas.errors import RateLimited

NOON = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_fourth_request_in_a_minute_of_an_rpm_3_key_waits_for_the_first_to_age_out() -> None:
    clock = Clock()
    tracker = QuotaTracker(clock, lambda: NOON)
    quota = Quota(max_requests_per_minute=3)
    for step in range(3):
        clock.now += step * 10
        tracker.admit("k", quota)
    with pytest.raises(RateLimited) as caught:
        tracker.admit("k", quota)
    assert caught.value.retry_after == 30  # the first came at 1000; now is 1030
    clock.now = 1060.5
    tracker.admit("k", quota)
    tracker.admit("other", quota)


def test_tokens_per_minute_count_finished_calls() -> None:
    clock = Clock()
    tracker = QuotaTracker(clock, lambda: NOON)
    quota = Quota(max_tokens_per_minute=100)
    tracker.admit("k", quota)
    tracker.record("k", 60, 0.0)
    tracker.admit("k", quota)
    clock.now += 20
    tracker.record("k", 50, 0.0)
    with pytest.raises(RateLimited) as caught:
        tracker.admit("k", quota)
    assert caught.value.retry_after == 40
    clock.now += 41
    tracker.admit("k", quota)


def test_a_spent_budget_waits_for_the_next_period() -> None:
    tracker = QuotaTracker(Clock(), lambda: NOON)
    quota = Quota(max_budget_tokens=100, budget_period="day")
    start = tracker.needs_load("k", quota)
    assert start == datetime(2025, 3, 14, tzinfo=UTC)
    tracker.load("k", start, 90, 0.0)
    assert tracker.needs_load("k", quota) is None
    tracker.admit("k", quota)
    tracker.record("k", 10, 0.0)
    with pytest.raises(RateLimited) as caught:
        tracker.admit("k", quota)
    assert caught.value.retry_after == 12 * 3600
    cost = Quota(max_budget_cost=1.0)
    tracker.load("c", period_bounds("month", NOON)[0], 0, 1.0)
    with pytest.raises(RateLimited):
        tracker.admit("c", cost)


def test_periods_are_utc_days_and_months() -> None:
    assert period_bounds("month", datetime(2025, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert period_bounds("day", NOON)[1] == datetime(2025, 3, 15, tzinfo=UTC)


def test_a_key_with_a_limit_of_zero_requests_is_refused_with_429_not_an_error() -> None:
    tracker = QuotaTracker(Clock(), lambda: NOON)
    with pytest.raises(RateLimited) as caught:
        tracker.admit("k", Quota(max_requests_per_minute=0))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
