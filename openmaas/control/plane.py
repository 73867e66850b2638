"""ControlPlane: the database and what is built on it (keys, usage, catalog, conversations), started and closed once."""

from __future__ import annotations

import logging

from sqlalchemy import text

from openmaas.control.catalog import Catalog
from openmaas.control.conversations import ConversationStore
from openmaas.control.db import create_db_engine, session_factory, upgrade
from openmaas.control.keys import KeySpec, KeyStore
from openmaas.control.usage import UsageQueries, UsageWriter

logger = logging.getLogger(__name__)


class ControlPlane:
    """Built from a database URL (no connection until ``start``), which migrates the database."""

    def __init__(self, database_url: str, usage_flush_interval: float = 0.5) -> None:
        self.engine = create_db_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.keys = KeyStore(self.sessions)
        self.usage = UsageQueries(self.sessions, self.engine)
        self.catalog = Catalog(self.sessions)
        self.conversations = ConversationStore(self.sessions)
        self._flush_interval = usage_flush_interval
        self._writer: UsageWriter | None = None

    @property
    def writer(self) -> UsageWriter:
        if self._writer is None:
            raise RuntimeError("the control plane is not started")
        return self._writer

    def start(self) -> None:
        """Runs the migrations (``alembic upgrade head``) and starts the usage writer."""
        upgrade(self.engine)
        self._writer = UsageWriter(self.sessions, self._flush_interval)

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
        self.engine.dispose()
