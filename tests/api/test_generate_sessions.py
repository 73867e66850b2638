"""SessionStore: bounded by count (least recently used first) and by age, without a model."""

from __future__ import annotations

import pytest

from openmaas.api.generate.sessions import Session, SessionItem, SessionStore
from openmaas.errors import Conflict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _items(key: str) -> list[SessionItem]:
    return [SessionItem(key, [1, 2], [1, 2], f"{key}#0")]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def forgotten() -> list[str]:
    return []


@pytest.fixture
def store(clock: Clock, forgotten: list[str]) -> SessionStore:
    return SessionStore(2, 10.0, lambda session: forgotten.append(session.key), clock)


def _run(store: SessionStore, key: str) -> Session:
    session = store.checkout(key) or store.open(key, "m", _items(key))
    store.checkin(session)
    return session


def test_the_least_recently_used_session_goes_first(store: SessionStore, forgotten: list[str]) -> None:
    _run(store, "a")
    _run(store, "b")
    _run(store, "a")  # a is now the most recently used
    _run(store, "c")
    assert forgotten == ["b"]
    assert len(store) == 2


def test_a_session_expires_ttl_seconds_after_its_last_use(
    store: SessionStore, clock: Clock, forgotten: list[str]
) -> None:
    _run(store, "a")
    clock.now = 9.0
    again = store.checkout("a")  # still there, and used again now
    assert again is not None
    store.checkin(again)
    store.checkin(store.open("b", "m", _items("b")))
    clock.now = 19.5
    assert store.checkout("a") is None
    assert forgotten == ["a", "b"]


def test_a_busy_session_refuses_a_second_call_and_is_never_evicted(store: SessionStore, forgotten: list[str]) -> None:
    busy = store.open("a", "m", _items("a"))
    with pytest.raises(Conflict):
        store.checkout("a")
    _run(store, "b")
    _run(store, "c")
    assert forgotten == ["b"]  # over capacity, but a is running
    store.checkin(busy)
    assert store.checkout("a") is busy


def test_a_first_call_that_failed_is_forgotten(store: SessionStore, forgotten: list[str]) -> None:
    session = store.open("a", "m", _items("a"))
    store.discard(session)
    assert store.checkout("a") is None
    assert forgotten == ["a"]


def test_a_busy_session_whose_call_ended_without_checking_it_in_is_taken_by_the_next(
    store: SessionStore,
) -> None:
    session = store.open("a", "m", _items("a"))
    held = [True]
    session.is_held = lambda: held[0]
    with pytest.raises(Conflict):
        store.checkout("a")
    held[0] = False  # its streamed body never ran: the lease was dropped, the session never checked in
    assert store.checkout("a") is session
