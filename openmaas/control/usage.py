"""Usage rows: a background writer that batches them off the hot path, and the queries over them."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from openmaas.control.tables import UsageRow
from openmaas.errors import InvalidRequest

logger = logging.getLogger(__name__)

GROUPS = ("model", "key", "day", "hour", "deployment", "dialect")


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One call's usage, as written to the ``usage`` table."""

    request_id: str
    created_at: datetime
    key_id: str | None
    key_prefix: str | None
    model: str
    deployment: str | None
    dialect: str
    status: str
    num_prompt_tokens: int
    num_cached_tokens: int
    num_completion_tokens: int
    time_to_first_token: float | None
    duration: float
    finish_reason: str
    cost: float
    # The server's unique id of the call (control/journal.py); None on rows from before it existed.
    call_id: str | None = None

    @classmethod
    def from_row(cls, row: UsageRow) -> UsageEntry:
        return cls(**{field.name: getattr(row, field.name) for field in dataclasses.fields(cls)})


class UsageWriter:
    """Writes entries in batches from its own thread; ``close`` writes what is left.

    ``submit`` only puts the entry on a queue, so the event loop never waits for
    the database. A batch is written when ``max_batch`` entries wait or
    ``flush_interval`` seconds passed since the first of them. ``on_written`` is
    told each batch's entries that reached the database (the journal then forgets
    them), from the writer's thread.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        flush_interval: float = 0.5,
        max_batch: int = 500,
        on_written: Callable[[list[UsageEntry]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._on_written = on_written
        self._queue: queue.Queue[UsageEntry | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="openmaas-usage-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, entry: UsageEntry) -> None:
        if self._closed:
            logger.warning("usage entry %s after the writer closed: written directly", entry.request_id)
            self._write_and_tell([entry])
            return
        self._queue.put(entry)

    def flush(self) -> None:
        """Waits until every entry submitted so far is written (for reads that must see them)."""
        # Safe to wait unbounded: _run marks every entry done, written or not.
        self._queue.join()

    def close(self) -> None:
        """Writes every pending entry, then stops the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            # A batch is written flush_interval after its first row at the latest, however busy.
            deadline = time.monotonic() + self._flush_interval
            try:
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._write_and_tell(batch)
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                return

    def _write_and_tell(self, batch: list[UsageEntry]) -> None:
        written = self._write(batch)
        if self._on_written is not None and written:
            try:
                self._on_written(written)
            except Exception:  # the rows are written; only the journal's cleanup is late
                logger.exception("usage writer: on_written failed")

    def _write(self, batch: list[UsageEntry]) -> list[UsageEntry]:
        """Writes the batch; returns the entries that reached the database."""
        try:
            with self._sessions.begin() as session:
                session.execute(insert(UsageRow), [dataclasses.asdict(entry) for entry in batch])
            return batch
        except Exception:
            if len(batch) == 1:  # the server keeps serving; the row stays in the journal for the next start
                logger.exception("could not write a usage row (request %s)", batch[0].request_id)
                return []
        # One bad row must not cost the others (a whole batch is one transaction): row by row.
        return [entry for one in batch for entry in self._write([one])]


def _day(engine: Engine) -> Any:
    if engine.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", UsageRow.created_at))
    # SQLite stores the UTC time as text ("2025-03-01 23:30:00.000000"): date() reads it as is.
    return func.date(UsageRow.created_at)


def _hour(engine: Engine) -> Any:
    if engine.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", UsageRow.created_at))
    return func.strftime("%Y-%m-%dT%H:00:00+00:00", UsageRow.created_at)


def _bucket_text(value: Any, group: str) -> Any:
    """A day as "2025-03-01", an hour as "2025-03-01T23:00:00+00:00", whichever type the database returned."""
    if group == "hour" and isinstance(value, datetime):
        # PostgreSQL's date_trunc over timezone('UTC', ...) gives a naive UTC timestamp.
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat()
    if group == "day" and isinstance(value, date):
        return value.isoformat()
    return value


class UsageQueries:
    """Reads over the usage table."""

    def __init__(self, sessions: sessionmaker[Session], engine: Engine) -> None:
        self._sessions = sessions
        self._engine = engine

    def totals_since(self, key_id: str, since: datetime) -> tuple[int, float]:
        """(prompt + completion tokens, cost) of the key's calls since then."""
        query = select(
            func.coalesce(func.sum(UsageRow.num_prompt_tokens + UsageRow.num_completion_tokens), 0),
            func.coalesce(func.sum(UsageRow.cost), 0.0),
        ).where(UsageRow.key_id == key_id, UsageRow.created_at >= since)
        with self._sessions() as session:
            tokens, cost = session.execute(query).one()
        return int(tokens), float(cost)

    def summary(
        self,
        group_by: list[str],
        *,
        key_id: str | None = None,
        model: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Requests, tokens and cost, grouped by any of model, key, day, hour, deployment, dialect.

        A day is "2025-03-01" and an hour "2025-03-01T23:00:00+00:00" (UTC), on every database.
        """
        for group in group_by:
            if group not in GROUPS:
                raise InvalidRequest(f"group_by takes {', '.join(GROUPS)}", param="group_by")
        columns: dict[str, Any] = {
            "model": UsageRow.model,
            "key": UsageRow.key_id,
            "day": _day(self._engine),
            "hour": _hour(self._engine),
            "deployment": UsageRow.deployment,
            "dialect": UsageRow.dialect,
        }
        keys = [columns[group].label(group if group != "key" else "key_id") for group in group_by]
        query = select(
            *keys,
            func.count().label("num_requests"),
            func.coalesce(func.sum(UsageRow.num_prompt_tokens), 0).label("num_prompt_tokens"),
            func.coalesce(func.sum(UsageRow.num_cached_tokens), 0).label("num_cached_tokens"),
            func.coalesce(func.sum(UsageRow.num_completion_tokens), 0).label("num_completion_tokens"),
            func.coalesce(func.sum(UsageRow.cost), 0.0).label("cost"),
        )
        query = _filtered(query, key_id, model, start, end)
        if keys:
            query = query.group_by(*keys).order_by(*keys)
        with self._sessions() as session:
            rows = [dict(row._mapping) for row in session.execute(query)]
        for row in rows:
            for group in ("day", "hour"):
                if group in row:
                    row[group] = _bucket_text(row[group], group)
            row["cost"] = float(row["cost"])
            for name in ("num_requests", "num_prompt_tokens", "num_cached_tokens", "num_completion_tokens"):
                row[name] = int(row[name])
        return rows

    def rows(
        self,
        *,
        key_id: str | None = None,
        model: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[UsageRow]:
        """The most recent rows first."""
        query = _filtered(select(UsageRow), key_id, model, start, end)
        query = query.order_by(UsageRow.created_at.desc(), UsageRow.id.desc()).limit(limit)
        with self._sessions() as session:
            return list(session.scalars(query))

    def last_used(self, key_id: str | None = None) -> dict[str, datetime]:
        """Each key's latest call (when it ended, UTC); only that key's with key_id. Keys never used are absent."""
        query = select(UsageRow.key_id, func.max(UsageRow.created_at)).where(UsageRow.key_id.is_not(None))
        if key_id is not None:
            query = query.where(UsageRow.key_id == key_id)
        query = query.group_by(UsageRow.key_id)
        with self._sessions() as session:
            return {key: latest for key, latest in session.execute(query) if key is not None and latest is not None}

    def iter_rows(
        self,
        *,
        key_id: str | None = None,
        model: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 500,
    ) -> Iterator[UsageRow]:
        """Every matching row, oldest first, read batch_size at a time (for exports of any length).

        Keyset pagination on (created_at, id): each batch is a short query of its own
        that starts after the last row seen, so neither a huge result nor a session
        (nor a transaction) is held between batches, and rows written meanwhile do not
        shift the pages as an OFFSET would.
        """
        # Checked here, not at the first next(): the caller hears of a mistake where it made it.
        if batch_size < 1:
            raise InvalidRequest("batch_size must be at least 1", param="batch_size")
        query = _filtered(select(UsageRow), key_id, model, start, end)
        return self._pages(query.order_by(UsageRow.created_at, UsageRow.id).limit(batch_size), batch_size)

    def _pages(self, query: Any, batch_size: int) -> Iterator[UsageRow]:
        after: tuple[datetime, int] | None = None
        while True:
            page = query
            if after is not None:
                created_at, row_id = after
                page = page.where(
                    or_(
                        UsageRow.created_at > created_at,
                        and_(UsageRow.created_at == created_at, UsageRow.id > row_id),
                    )
                )
            with self._sessions() as session:
                batch: list[UsageRow] = list(session.scalars(page))
            yield from batch
            if len(batch) < batch_size:
                return
            after = (batch[-1].created_at, batch[-1].id)


def _filtered(query: Any, key_id: str | None, model: str | None, start: datetime | None, end: datetime | None) -> Any:
    if key_id is not None:
        query = query.where(UsageRow.key_id == key_id)
    if model is not None:
        query = query.where(UsageRow.model == model)
    if start is not None:
        query = query.where(UsageRow.created_at >= start)
    if end is not None:
        query = query.where(UsageRow.created_at < end)
    return query
