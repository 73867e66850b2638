"""ServiceRate: how fast a model's queue is served, measured while it has a backlog."""

from __future__ import annotations

from collections import deque


class ServiceRate:
    """Seconds between two requests leaving the queue (getting their first token), under backlog.

    Only intervals during which the queue was never empty count: when requests arrive
    slower than the model could serve them, the gaps between departures measure the
    clients, not the model. The estimate is the mean over the last ``window``
    intervals, so it follows the load (long prompts, long generations holding slots).
    Times are plain floats (monotonic seconds) passed in, so tests need no clock.
    """

    def __init__(self, window: int = 64, min_samples: int = 16) -> None:
        self._intervals: deque[float] = deque(maxlen=window)
        self._min_samples = min_samples
        # Since when the queue has been served without a break (the last departure or the first
        # arrival into an empty queue); None while the queue is empty.
        self._busy_since: float | None = None

    def arrived(self, now: float) -> None:
        """A request joined the queue."""
        if self._busy_since is None:
            self._busy_since = now

    def departed(self, now: float, num_left: int) -> None:
        """A request got its first token; num_left requests are still queued."""
        if self._busy_since is not None:
            self._intervals.append(max(0.0, now - self._busy_since))
        self._busy_since = now if num_left > 0 else None

    def abandoned(self, num_left: int) -> None:
        """A request left the queue without being served (cancelled, refused by the engine)."""
        if num_left <= 0:
            self._busy_since = None

    def seconds_per_request(self) -> float | None:
        """The mean interval between departures; None until enough were measured."""
        if len(self._intervals) < self._min_samples:
            return None
        return sum(self._intervals) / len(self._intervals)
