"""Drain: what the server does between SIGTERM and exit.

On the signal the server stops taking work (new inference requests get 503
``shutting_down``; ``/ready`` answers 503 so a load balancer stops sending),
lets running generations finish for up to ``drain_timeout`` seconds, then
aborts the rest (their streams end with finish reason ``abort``). The HTTP
server meanwhile stops accepting connections and waits for the open ones;
the app's shutdown then flushes what must be kept, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging

from openmaas.fleet.fleet import ModelFleet

logger = logging.getLogger(__name__)


class Drain:
    """The drain state of one app; begin() may be called from a signal handler."""

    def __init__(self, fleet: ModelFleet, timeout_seconds: float) -> None:
        self._fleet = fleet
        self._timeout = timeout_seconds
        self.is_draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the app runs on (set at start-up), where begin() does its work."""
        self._loop = loop

    def begin(self) -> None:
        """Starts draining; safe from a signal handler or another thread, and idempotent."""
        if self._loop is None or self._loop.is_closed():
            self._start()
        else:
            self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self.is_draining:
            return
        self.is_draining = True
        logger.info("draining: no new requests; running ones get %.0f s to finish", self._timeout)
        # No model loads from now on, and the loaded ones take no new work.
        self._fleet.stop_accepting()
        for served in self._fleet.list():
            served.engine.stop_accepting()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(self._timeout, self.abort_running)
        else:
            self.abort_running()

    def abort_running(self) -> None:
        """Ends every generation still running (finish reason "abort")."""
        running = sum(served.engine.num_queued for served in self._fleet.list())
        logger.info("drain timeout: aborting what still runs (%d queued)", running)
        for served in self._fleet.list():
            served.engine.abort_all()
