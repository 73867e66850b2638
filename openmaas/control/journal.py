"""UsageJournal: a local append-only log that makes each call's usage durable before its answer ends.

The database is written in batches off the hot path (``UsageWriter``), so a
crash would lose the rows of calls that had already answered, and calls cut by
the crash would leave no trace. The journal closes both gaps at a bounded cost:

- ``begin`` appends a call's identity (key, model, prices, prompt tokens) when it
  starts, and ``progress`` its counts each time a chunk reached the client; both
  are plain ``write`` calls, which survive the process being killed.
- ``end`` appends the call's finished row. Once written, the row survives the
  process dying (a crash, an OOM kill, SIGKILL): the kernel holds it. One
  background thread ``fdatasync``s what was written, at most every
  ``sync_interval`` seconds (a group commit: every line written meanwhile shares
  one sync), which bounds what a machine crash can lose. With ``wait_for_sync``,
  ``end``'s future completes only once a sync covers the row (the server then
  holds a call's last byte until its row would survive a power loss too; it
  costs one sync per group of calls, 0.2 to 4 ms on the reference machine's disk).
- When the database has the row (``committed``), the journal may forget it.

At start, ``replay`` reads the segments that no live process holds: rows that
ended but never reached the database are inserted (once: ``call_id`` is unique),
and calls that began but never ended become rows with status ``interrupted`` and
the tokens they had delivered. Each server process appends to its own segment,
locked with ``flock`` for as long as it runs, so servers sharing a home never
replay each other's live calls. A segment past ``max_segment_bytes`` is sealed
(the open calls are copied into a fresh one) and deleted once the database holds
every row it ended.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from openmaas.control.tables import UsageRow
from openmaas.control.usage import UsageEntry

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
_SUFFIX = ".jsonl"
_DATETIME_FIELDS = ("created_at",)


@dataclass(frozen=True, slots=True)
class CallProgress:
    """What a running call had delivered: its counts and seconds since it began."""

    num_prompt_tokens: int
    num_cached_tokens: int
    num_completion_tokens: int
    time_to_first_token: float | None
    duration: float


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int
    size: int = 0
    # Calls that ended in this segment and whose rows the database does not hold yet.
    pending: set[str] = field(default_factory=set)
    is_sealed: bool = False


def _complete(future: concurrent.futures.Future[None]) -> None:
    # A waiter may have given up (its client left while it waited): its future is cancelled.
    if future.set_running_or_notify_cancel():
        future.set_result(None)


# Read once: dataclasses.asdict deep-copies, which costs more than the rest of a line (a line per chunk).
_ENTRY_FIELDS = tuple(f.name for f in dataclasses.fields(UsageEntry))


def _entry_json(entry: UsageEntry) -> dict[str, Any]:
    data = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    for name in _DATETIME_FIELDS:
        data[name] = data[name].isoformat()
    return data


def _progress_line(call_id: str, progress: CallProgress) -> bytes:
    # Formatted by hand: this runs on the event loop for every chunk a stream sends.
    ttft = "null" if progress.time_to_first_token is None else repr(float(progress.time_to_first_token))
    return (
        f'{{"t":"p","id":"{call_id}","num_prompt_tokens":{progress.num_prompt_tokens:d},'
        f'"num_cached_tokens":{progress.num_cached_tokens:d},"num_completion_tokens":{progress.num_completion_tokens:d},'
        f'"time_to_first_token":{ttft},"duration":{float(progress.duration)!r}}}\n'
    ).encode()


def _entry_from_json(data: dict[str, Any]) -> UsageEntry:
    values = dict(data)
    for name in _DATETIME_FIELDS:
        values[name] = datetime.fromisoformat(values[name])
    known = {f.name for f in dataclasses.fields(UsageEntry)}
    return UsageEntry(**{k: v for k, v in values.items() if k in known})


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


class UsageJournal:
    """One server process's journal in ``directory`` (created ``0700``; segments ``0600``)."""

    def __init__(
        self,
        directory: Path,
        *,
        wait_for_sync: bool = False,
        sync_interval: float = 0.01,
        max_segment_bytes: int = 4 << 20,
    ) -> None:
        self._directory = directory
        self._wait_for_sync = wait_for_sync
        # Waiters are not kept waiting for a pacing interval.
        self._sync_interval = 0.0 if wait_for_sync else sync_interval
        self._max_segment_bytes = max_segment_bytes
        self._lock = threading.Lock()
        # call id -> its begin line and its latest progress line (copied into a new segment on rotation).
        self._open: dict[str, tuple[bytes, bytes | None]] = {}
        self._segments: list[_Segment] = []
        # Lines written so far, and how many of them a completed sync covers.
        self._num_written = 0
        self._num_synced = 0
        self._waiters: list[tuple[int, concurrent.futures.Future[None]]] = []
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None

    # Lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Creates this process's segment and starts the sync thread."""
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._segments.append(self._new_segment())
        self._thread = threading.Thread(target=self._sync_loop, name="openmaas-usage-journal", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Syncs and stops; removes this process's segments when the database holds every row they ended
        and no call is open (else they stay for the next start's replay)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for segment in self._segments:
                os.fdatasync(segment.fd)
                os.close(segment.fd)  # releases the lock
                if not segment.pending and not self._open:
                    segment.path.unlink(missing_ok=True)
            self._segments.clear()
            self._resolve(self._num_written)

    # Appending ------------------------------------------------------------------------
    def begin(self, call_id: str, entry: UsageEntry, prices: tuple[float, float]) -> None:
        """A call started: its row as it would be with no output, and its model's prices (per million)."""
        line = _line({"t": "b", "id": call_id, "row": _entry_json(entry), "price": list(prices)})
        with self._lock:
            self._open[call_id] = (line, None)
            self._append(line)

    def progress(self, call_id: str, progress: CallProgress) -> None:
        """A chunk reached the client: the call's counts so far."""
        line = _progress_line(call_id, progress)
        with self._lock:
            begun = self._open.get(call_id)
            if begun is None:
                return
            self._open[call_id] = (begun[0], line)
            self._append(line)

    def end(self, entry: UsageEntry) -> concurrent.futures.Future[None]:
        """A call ended with this row: written now, durable once the returned future is done."""
        assert entry.call_id is not None
        line = _line({"t": "e", "row": _entry_json(entry)})
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            self._open.pop(entry.call_id, None)
            if self._closed or not self._segments:
                _complete(future)  # nowhere to write: the database row is all there is
                return future
            self._append(line)
            self._segments[-1].pending.add(entry.call_id)
            if self._wait_for_sync:
                self._waiters.append((self._num_written, future))
            else:
                _complete(future)
        return future

    def committed(self, call_ids: Iterable[str | None]) -> None:
        """The database holds these calls' rows: sealed segments holding nothing else go."""
        with self._lock:
            for call_id in call_ids:
                for segment in self._segments:
                    segment.pending.discard(call_id or "")
            for segment in [s for s in self._segments if s.is_sealed and not s.pending]:
                os.close(segment.fd)
                segment.path.unlink(missing_ok=True)
                self._segments.remove(segment)

    def _append(self, line: bytes) -> None:
        """Under the lock."""
        if self._closed or not self._segments:
            return
        segment = self._segments[-1]
        if segment.size + len(line) > self._max_segment_bytes and segment.size > 0:
            segment = self._rotate(segment)
        os.write(segment.fd, line)
        segment.size += len(line)
        self._num_written += 1
        if self._num_written == self._num_synced + 1:
            self._wake.notify()

    def _rotate(self, old: _Segment) -> _Segment:
        """Seals old (synced now, so waiters of its lines are covered) and copies the open calls over."""
        os.fdatasync(old.fd)
        old.is_sealed = True
        new = self._new_segment()
        self._segments.append(new)
        for begin, progress in self._open.values():
            for line in (begin, progress):
                if line is not None:
                    os.write(new.fd, line)
                    new.size += len(line)
        if not old.pending:
            os.close(old.fd)
            old.path.unlink(missing_ok=True)
            self._segments.remove(old)
        return new

    def _new_segment(self) -> _Segment:
        name = f"usage-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        path = self._directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Segment(path, fd)

    # Group commit ------------------------------------------------------------------------
    def _sync_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and self._num_synced >= self._num_written:
                    self._wake.wait()
                if self._closed:
                    return
                if self._sync_interval > 0:
                    # Pacing: lines written meanwhile share the sync (close() cuts it short).
                    self._wake.wait(self._sync_interval)
                    if self._closed:
                        return
                target = self._num_written
                fd = self._segments[-1].fd
            # Outside the lock: appends go on while the disk syncs (lines of sealed segments were synced on rotation).
            try:
                os.fdatasync(fd)
            except OSError:
                logger.exception("could not sync the usage journal")
            with self._lock:
                self._num_synced = max(self._num_synced, target)
                self._resolve(target)

    def _resolve(self, upto: int) -> None:
        """Under the lock: completes the waiters whose lines are synced."""
        done = [future for seq, future in self._waiters if seq <= upto]
        self._waiters = [(seq, future) for seq, future in self._waiters if seq > upto]
        for future in done:
            _complete(future)

    # Replay ------------------------------------------------------------------------
    def replay(self, sessions: sessionmaker[Session]) -> int:
        """Writes what dead processes' segments hold and the database lacks; removes those segments.

        Returns how many rows were written. Call before ``open``.
        """
        if not self._directory.is_dir():
            return 0
        held: list[tuple[Path, int]] = []
        try:
            for path in sorted(self._directory.glob(f"usage-*{_SUFFIX}")):
                fd = os.open(path, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # a live server's own segment
                    os.close(fd)
                    continue
                held.append((path, fd))
            entries = _recovered_entries(path for path, _ in held)
            written = _insert_missing(sessions, entries)
            for path, _ in held:
                path.unlink(missing_ok=True)
        finally:
            for _, fd in held:
                os.close(fd)
        if written:
            logger.info("usage journal: wrote %d row(s) of calls a previous run had not stored", written)
        return written


def _recovered_entries(paths: Iterable[Path]) -> list[UsageEntry]:
    """The rows the segments describe: each ended call's row, and an interrupted row for each call that
    began and never ended."""
    ended: dict[str, UsageEntry] = {}
    begun: dict[str, tuple[UsageEntry, tuple[float, float]]] = {}
    progress: dict[str, CallProgress] = {}
    for path in paths:
        with open(path, "rb") as file:
            for raw in file:
                try:
                    record = json.loads(raw)
                    kind = record["t"]
                    if kind == "b":
                        input_price, output_price = record["price"]
                        begun[record["id"]] = (_entry_from_json(record["row"]), (input_price, output_price))
                    elif kind == "p":
                        fields = {f.name: record[f.name] for f in dataclasses.fields(CallProgress)}
                        progress[record["id"]] = CallProgress(**fields)
                    elif kind == "e":
                        entry = _entry_from_json(record["row"])
                        if entry.call_id is not None:
                            ended[entry.call_id] = entry
                except (ValueError, KeyError, TypeError):  # a line cut by the crash
                    logger.warning("usage journal %s: skipped an unreadable line", path.name)
    entries = list(ended.values())
    for call_id, (start, (input_price, output_price)) in begun.items():
        if call_id in ended:
            continue
        done = progress.get(call_id)
        if done is None:
            done = CallProgress(start.num_prompt_tokens, start.num_cached_tokens, 0, None, 0.0)
        cost = (done.num_prompt_tokens * input_price + done.num_completion_tokens * output_price) / 1_000_000
        entries.append(
            dataclasses.replace(
                start,
                created_at=start.created_at + timedelta(seconds=done.duration),
                status=INTERRUPTED,
                num_prompt_tokens=done.num_prompt_tokens,
                num_cached_tokens=done.num_cached_tokens,
                num_completion_tokens=done.num_completion_tokens,
                time_to_first_token=done.time_to_first_token,
                duration=done.duration,
                finish_reason=INTERRUPTED,
                cost=cost,
            )
        )
    return entries


def _insert_missing(sessions: sessionmaker[Session], entries: list[UsageEntry]) -> int:
    """Inserts the entries whose call_id the table lacks; one that cannot be written is logged and skipped."""
    written = 0
    for start in range(0, len(entries), 500):
        batch = entries[start : start + 500]
        ids = [e.call_id for e in batch]
        with sessions() as session:
            present = set(session.scalars(select(UsageRow.call_id).where(UsageRow.call_id.in_(ids))))
        for entry in batch:
            if entry.call_id in present:
                continue
            try:
                with sessions.begin() as session:
                    session.execute(insert(UsageRow), [dataclasses.asdict(entry)])
                written += 1
            except Exception:
                logger.exception("usage journal: could not write the row of call %s", entry.call_id)
    return written
