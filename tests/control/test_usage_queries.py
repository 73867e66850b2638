"""The usage queries the console reads, on SQLite and PostgreSQL: hour buckets, keys' last use, streamed rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openmaas.control.plane import ControlPlane
from openmaas.control.usage import UsageEntry
from openmaas.errors import InvalidRequest
from tests.control.usage_entries import usage_entry

T0 = datetime(2026, 11, 23, 19, 5, 30, 123456, tzinfo=UTC)


def entry(request_id: str, created_at: datetime, key_id: str | None = "key_a", model: str = "m") -> UsageEntry:
    prefix = None if key_id is None else "om-abc"
    return usage_entry(
        request_id, model, key_id, created_at=created_at, key_prefix=prefix, num_cached_tokens=0, cost=0.25
    )


def write(plane: ControlPlane, *entries: UsageEntry) -> None:
    for item in entries:
        plane.writer.submit(item)
    plane.writer.flush()


def test_hours_and_days_are_utc_iso_strings(plane: ControlPlane) -> None:
    write(
        plane,
        entry("a", T0),
        entry("b", T0 + timedelta(minutes=50)),  # 19:55: the same hour
        entry("c", T0 + timedelta(hours=1)),
        # 20:30 at UTC+02:00 is 18:30 UTC: buckets go by UTC, whatever zone an instant was given in.
        entry("d", datetime.fromisoformat("2026-11-23T20:30:00+02:00")),
        entry("e", T0 + timedelta(hours=5)),  # 00:05 the next day
    )
    by_hour = plane.usage.summary(["hour"])
    assert [(row["hour"], row["num_requests"]) for row in by_hour] == [
        ("2026-11-23T18:00:00+00:00", 1),
        ("2026-11-23T19:00:00+00:00", 2),
        ("2026-11-23T20:00:00+00:00", 1),
        ("2026-11-24T00:00:00+00:00", 1),
    ]
    assert all(datetime.fromisoformat(row["hour"]).tzinfo == UTC for row in by_hour)
    by_day_and_hour = plane.usage.summary(["day", "hour"], start=T0)
    assert [(row["day"], row["hour"]) for row in by_day_and_hour] == [
        ("2026-11-23", "2026-11-23T19:00:00+00:00"),
        ("2026-11-23", "2026-11-23T20:00:00+00:00"),
        ("2026-11-24", "2026-11-24T00:00:00+00:00"),
    ]
    assert all(isinstance(row["day"], str) and isinstance(row["hour"], str) for row in by_day_and_hour)
    by_model_hour = plane.usage.summary(["model", "hour"], key_id="key_a", end=T0 + timedelta(hours=1))
    assert [(row["model"], row["hour"], row["cost"]) for row in by_model_hour] == [
        ("m", "2026-11-23T18:00:00+00:00", pytest.approx(0.25)),
        ("m", "2026-11-23T19:00:00+00:00", pytest.approx(0.5)),
    ]


def test_last_used_is_each_keys_latest_call(plane: ControlPlane) -> None:
    assert plane.usage.last_used() == {}
    write(
        plane,
        entry("a1", T0, key_id="key_a"),
        entry("a2", T0 + timedelta(days=2), key_id="key_a"),
        entry("a0", T0 - timedelta(days=1), key_id="key_a"),  # written last, older
        entry("b1", T0 + timedelta(seconds=1), key_id="key_b"),
        entry("anonymous", T0 + timedelta(days=9), key_id=None),
    )
    last_used = plane.usage.last_used()
    assert last_used == {"key_a": T0 + timedelta(days=2), "key_b": T0 + timedelta(seconds=1)}
    assert all(moment.tzinfo is not None and moment.utcoffset() == timedelta(0) for moment in last_used.values())
    assert plane.usage.last_used("key_b") == {"key_b": T0 + timedelta(seconds=1)}
    assert plane.usage.last_used("key_never") == {}


def test_iter_rows_streams_every_row_oldest_first_in_batches(plane: ControlPlane) -> None:
    # Written out of order, with ties on created_at (which the id breaks) across batch edges.
    moments = [T0 + timedelta(seconds=(index * 7) % 11) for index in range(23)]
    write(plane, *(entry(f"r{index:02d}", moment) for index, moment in enumerate(moments)))
    write(plane, entry("other-key", T0, key_id="key_b"), entry("other-model", T0, model="n"))

    rows = list(plane.usage.iter_rows(key_id="key_a", model="m", batch_size=4))
    assert len(rows) == 23 and len({row.id for row in rows}) == 23
    assert [(row.created_at, row.id) for row in rows] == sorted((row.created_at, row.id) for row in rows)
    assert all(row.created_at.tzinfo is not None for row in rows)
    # r03 and r14 are both at T0 + 10 s, the latest; r14 was written later.
    assert [row.request_id for row in plane.usage.iter_rows(batch_size=5)][-1] == "r14"
    assert len(list(plane.usage.iter_rows(batch_size=25))) == 25  # one batch exactly holds all, the next is empty

    window = list(plane.usage.iter_rows(start=T0 + timedelta(seconds=3), end=T0 + timedelta(seconds=5), batch_size=1))
    assert {row.created_at for row in window} == {T0 + timedelta(seconds=3), T0 + timedelta(seconds=4)}
    assert list(plane.usage.iter_rows(key_id="key_nobody")) == []


def test_iter_rows_reads_one_batch_at_a_time(plane: ControlPlane) -> None:
    write(plane, *(entry(f"r{index}", T0 + timedelta(seconds=index)) for index in range(6)))
    rows = plane.usage.iter_rows(batch_size=2)
    assert [next(rows).request_id, next(rows).request_id] == ["r0", "r1"]
    # A row written after the first batch was read still comes, in its place: pages start after the last row seen.
    write(plane, entry("late", T0 + timedelta(seconds=2, milliseconds=500)))
    assert [row.request_id for row in rows] == ["r2", "late", "r3", "r4", "r5"]


def test_iter_rows_refuses_an_empty_batch_at_once(plane: ControlPlane) -> None:
    with pytest.raises(InvalidRequest) as refused:
        plane.usage.iter_rows(batch_size=0)
    assert refused.value.param == "batch_size"
