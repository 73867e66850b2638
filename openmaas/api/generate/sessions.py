"""SessionStore: the generations a request_id (or a batch's list of them) can continue.

A session remembers each prompt's tokens and everything generated so far,
so a later call continues it whatever the engine still holds; the engine
keeps the KV too (best effort), so continuing usually computes nothing
again. Bounded: at most ``max_sessions`` (least recently used goes first)
and each forgotten ``ttl`` seconds after its last use. Forgetting a session
frees the KV the engine kept for it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from openmaas.errors import Conflict


@dataclass(slots=True)
class SessionItem:
    """One prompt of a session and what it has produced so far."""

    request_id: str
    prompt_token_ids: list[int]
    # The prompt followed by every token generated so far, over all calls.
    token_ids: list[int]
    engine_session_id: str
    generated_text: str = ""


@dataclass(slots=True)
class Session:
    key: str
    model_id: str
    items: list[SessionItem]
    last_used: float = 0.0
    is_busy: bool = False
    # While busy: whether the call that holds it still runs (its model lease is held). A call whose
    # streamed body never started cannot check the session in; this lets the next call take it.
    is_held: Callable[[], bool] | None = None

    @property
    def is_running(self) -> bool:
        return self.is_busy and (self.is_held is None or self.is_held())


class SessionStore:
    """Sessions by key, least recently used first; single-threaded (the event loop's)."""

    def __init__(
        self,
        max_sessions: int,
        ttl_seconds: float,
        on_forget: Callable[[Session], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._max_sessions = max_sessions
        self._ttl = ttl_seconds
        self._on_forget = on_forget
        self._clock = clock

    def __len__(self) -> int:
        return len(self._sessions)

    def checkout(self, key: str) -> Session | None:
        """The session under key, now busy; None if there is none (or it expired)."""
        self._expire()
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.is_running:
            raise Conflict("a generation with this request_id is still running; wait for it to end")
        session.is_busy = True
        session.is_held = None
        self._sessions.move_to_end(key)
        return session

    def open(self, key: str, model_id: str, items: list[SessionItem]) -> Session:
        """Starts a new busy session under key."""
        session = Session(key, model_id, items, last_used=self._clock(), is_busy=True)
        self._sessions[key] = session
        return session

    def checkin(self, session: Session) -> None:
        """Ends a call of session: it can be continued from now on."""
        session.is_busy = False
        session.last_used = self._clock()
        if self._sessions.get(session.key) is session:
            self._sessions.move_to_end(session.key)
        self._evict_over_capacity()

    def discard(self, session: Session) -> None:
        """Forgets a session whose first call failed before generating."""
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]
            self._on_forget(session)

    def clear(self) -> None:
        for session in list(self._sessions.values()):
            self._on_forget(session)
        self._sessions.clear()

    def _expire(self) -> None:
        deadline = self._clock() - self._ttl
        for key, session in list(self._sessions.items()):
            if not session.is_running and session.last_used < deadline:
                del self._sessions[key]
                self._on_forget(session)

    def _evict_over_capacity(self) -> None:
        self._expire()
        idle = [key for key, session in self._sessions.items() if not session.is_running]
        excess = len(self._sessions) - self._max_sessions
        for key in idle[: max(0, excess)]:
            self._on_forget(self._sessions.pop(key))
