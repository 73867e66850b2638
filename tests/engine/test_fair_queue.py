"""FairQueue: first in, first out within a tenant; round robin across tenants."""

from __future__ import annotations

from openmaas.engine.fair_queue import FairQueue


def test_a_burst_and_a_single_request_are_served_in_turn() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(5):
        queue.push("burst", f"a{i}")
    queue.push("single", "b0")
    assert len(queue) == 6
    # The single request goes second, not sixth.
    assert queue.drain() == ["a0", "b0", "a1", "a2", "a3", "a4"]
    assert len(queue) == 0 and queue.pop() is None


def test_three_tenants_take_turns_and_a_newcomer_joins_the_round() -> None:
    queue: FairQueue[str] = FairQueue()
    for item in ("a0", "a1", "a2"):
        queue.push("a", item)
    for item in ("b0", "b1"):
        queue.push("b", item)
    assert queue.pop() == "a0"
    queue.push("c", "c0")
    assert queue.drain() == ["b0", "a1", "c0", "b1", "a2"]


def test_removing_a_cancelled_item_keeps_the_rest_in_order() -> None:
    queue: FairQueue[str] = FairQueue()
    for item in ("a0", "a1"):
        queue.push("a", item)
    queue.push("b", "b0")
    assert queue.remove("a", "a0")
    assert not queue.remove("a", "a0") and not queue.remove("nobody", "x")
    assert queue.remove("b", "b0")
    assert len(queue) == 1 and queue.drain() == ["a1"]
