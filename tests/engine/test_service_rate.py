"""ServiceRate: the time between departures, counted only while the queue has a backlog."""

from __future__ import annotations

import pytest

from openmaas.engine.service_rate import ServiceRate


def test_only_busy_intervals_count() -> None:
    rate = ServiceRate(window=8, min_samples=2)
    rate.arrived(0.0)
    rate.departed(1.0, num_left=1)  # served 1 s after it arrived, one more waiting
    assert rate.seconds_per_request() is None  # one sample is not enough
    rate.departed(3.0, num_left=0)  # 2 s later: the queue is empty now
    assert rate.seconds_per_request() == pytest.approx(1.5)
    # An idle minute, then a request that waits 0.5 s: the idle time is not service time.
    rate.arrived(63.0)
    rate.departed(63.5, num_left=0)
    assert rate.seconds_per_request() == pytest.approx((1 + 2 + 0.5) / 3)


def test_a_cancelled_request_that_empties_the_queue_ends_the_busy_period() -> None:
    rate = ServiceRate(window=8, min_samples=1)
    rate.arrived(0.0)
    rate.abandoned(num_left=0)
    rate.arrived(10.0)
    rate.departed(10.25, num_left=0)
    assert rate.seconds_per_request() == pytest.approx(0.25)


def test_the_window_follows_the_latest_load() -> None:
    rate = ServiceRate(window=2, min_samples=2)
    rate.arrived(0.0)
    for now in (10.0, 20.0, 21.0, 22.0):  # slow at first, then fast
        rate.departed(now, num_left=1)
    assert rate.seconds_per_request() == pytest.approx(1.0)
