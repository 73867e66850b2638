"""QueueControl: call size (400), shares of the queue between keys and the expected wait (429)."""

from __future__ import annotations

import pytest

from openmaas.engine import EngineConfig
from openmaas.engine.queue_control import QueueControl
from openmaas.errors import InvalidRequest, QueueFull


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def control(clock: Clock | None = None, **fields: float) -> QueueControl:
    config = EngineConfig(model_path="", max_num_seqs=4, **fields)  # type: ignore[arg-type]
    return QueueControl(config, clock or Clock())


def test_a_call_larger_than_the_per_call_cap_is_refused_whatever_the_load() -> None:
    queue = control(max_requests_per_call=8)
    queue.check_call_size(8)
    with pytest.raises(InvalidRequest, match="10000 generations") as refused:
        queue.check_call_size(10_000, param="prompt")
    assert refused.value.param == "prompt" and refused.value.http_status == 400
    # Its prompt tokens too: at most a quarter of the queue's (but always one full context).
    with pytest.raises(InvalidRequest, match="tokens"):
        control(max_queued_prompt_tokens=40_000, max_model_len=2048).admit("a", 1, 10_001)
    # The per-call cap never exceeds the queue's own.
    assert control(max_queued_requests=2, max_requests_per_call=64).max_requests_per_call == 2


def test_one_key_cannot_fill_the_queue_against_another() -> None:
    queue = control(max_queued_requests=8, max_requests_per_call=8)
    held = [queue.admit("a", 8, 80)]  # the queue is full, all of it key a's (held: a dropped one is given back)
    with pytest.raises(QueueFull) as refused:
        queue.admit("a", 1, 10)
    assert refused.value.http_status == 429 and refused.value.retry_after is not None
    # Key b holds less than an equal share: admitted past the cap (up to twice it).
    held += [queue.admit("b", 1, 10), queue.admit("b", 3, 30)]
    assert queue.num_queued == 12
    with pytest.raises(QueueFull):
        queue.admit("b", 5, 50)  # twice the cap is a hard bound, whatever the shares
    # Requests leaving give the room back.
    for _ in range(8):
        assert held[0].claim(10)  # a's requests start, and leave the queue with their first token
        queue.leave("a", 1, 10, is_served=True)
    held.append(queue.admit("a", 4, 40))


def test_admission_is_refused_when_the_expected_wait_passes_the_bound() -> None:
    clock = Clock()
    queue = control(clock, max_queue_wait=5.0, max_queued_requests=256, max_requests_per_call=64)
    admission = queue.admit("a", 40, 400)
    assert queue.expected_wait("a") is None  # nothing measured yet: no refusal by wait
    for _ in range(20):  # one request starts every 0.5 s while others wait
        clock.now += 0.5
        assert admission.claim(10)
        queue.leave("a", 1, 10, is_served=True)
    assert queue.rate.seconds_per_request() == pytest.approx(0.5)
    # Key a has 20 requests queued: the next one would start after them, in 10 s.
    assert queue.expected_wait("a") == pytest.approx(10.0)
    with pytest.raises(QueueFull, match="wait about 10 s") as refused:
        queue.admit("a", 1, 10)
    assert refused.value.retry_after == pytest.approx(5.0)
    # Key b's single request waits for one of a's in the round robin: 0.5 s.
    assert queue.expected_wait("b") == pytest.approx(0.5)
    queue.admit("b", 1, 10)


def test_an_admission_given_back_unclaimed_leaves_the_counts_as_they_were() -> None:
    queue = control()
    admission = queue.admit("a", 3, 30)
    assert admission.tenant == "a" and queue.num_queued == 3
    admission.release()
    assert (queue.num_queued, queue.num_queued_prompt_tokens) == (0, 0)
