"""ControlPlane: the database and what is built on it (keys, usage, catalog, conversations), started and closed once."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import text

from openmaas.control.catalog import Catalog
from openmaas.control.conversations import ConversationStore
from openmaas.control.db import create_db_engine, session_factory, upgrade
from openmaas.control.journal import UsageJournal
from openmaas.control.keys import KeySpec, KeyStore
from openmaas.control.usage import UsageQueries, UsageWriter

logger = logging.getLogger(__name__)


class ControlPlane:
    """Built from a database URL (no connection until ``start``), which migrates the database."""

    def __init__(
        self,
        database_url: str,
        usage_flush_interval: float = 0.5,
        journal_dir: Path | None = None,
        journal_sync: bool = False,
    ) -> None:
        """journal_dir: where the usage journal lives (None: no journal, rows are as durable as the
        writer's batches; tools and tests that write no calls' usage). journal_sync: a call's row is
        durable once fsynced, not once written (UsageJournal's wait_for_sync)."""
        self.engine = create_db_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.keys = KeyStore(self.sessions)
        self.usage = UsageQueries(self.sessions, self.engine)
        self.catalog = Catalog(self.sessions)
        self.conversations = ConversationStore(self.sessions)
        self._flush_interval = usage_flush_interval
        self._writer: UsageWriter | None = None
        self.journal = UsageJournal(journal_dir, wait_for_sync=journal_sync) if journal_dir is not None else None

    @property
    def writer(self) -> UsageWriter:
        if self._writer is None:
            raise RuntimeError("the control plane is not started")
        return self._writer

    def start(self) -> None:
        """Runs the migrations (``alembic upgrade head``), writes what the journal of a previous run
        holds (rows not stored, calls interrupted by a crash), and starts the journal and the writer."""
        upgrade(self.engine)
        journal = self.journal
        if journal is not None:
            journal.replay(self.sessions)
            journal.open()
        on_written = None if journal is None else (lambda entries: journal.committed(e.call_id for e in entries))
        self._writer = UsageWriter(self.sessions, self._flush_interval, on_written=on_written)

    def create_first_admin_key(self) -> str | None:
        """When the database has no key at all: creates an admin key and returns its secret (once)."""
        if self.keys.count():
            return None
        _, secret = self.keys.create(KeySpec(name="first admin key", is_admin=True))
        logger.info("created the first admin key")
        return secret

    def ping(self) -> None:
        """Raises if the database cannot be reached (a readiness check)."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        """Writes the pending usage rows, then closes the database connections."""
        if self._writer is not None:
            self._writer.close()
        # After the writer: the journal forgets what the database now holds.
        if self.journal is not None:
            self.journal.close()
        self.engine.dispose()
