"""/api/console/usage and /api/console/usage.csv: the Usage page's charts and its export.

An admin key (or a server with keys off) sees every call; any other key sees only
its own, whatever it asks for. The series cover the whole period, one bucket per
hour (24h) or per UTC day, with empty buckets as zeros, so a chart needs no
calendar arithmetic of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from openmaas.api.auth import BOOTSTRAP_KEY_ID, Caller, KeyDep
from openmaas.api.deps import ControlPlaneDep
from openmaas.control.db import utcnow
from openmaas.control.plane import ControlPlane
from openmaas.control.tables import UsageRow
from openmaas.errors import InvalidRequest

router = APIRouter(prefix="/api/console", tags=["console"])


@dataclass(frozen=True, slots=True)
class Period:
    buckets: int
    bucket: str  # "hour" or "day": also the UsageQueries.summary group that buckets the rows

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)


PERIODS = {
    "24h": Period(24, "hour"),
    "7d": Period(7, "day"),
    "30d": Period(30, "day"),
    "90d": Period(90, "day"),
}
GROUPS = ("model", "key")
TOTAL_FIELDS = ("num_requests", "num_prompt_tokens", "num_cached_tokens", "num_completion_tokens", "cost")
CSV_COLUMNS = (
    "created_at",
    "request_id",
    "key_prefix",
    "model",
    "deployment",
    "dialect",
    "status",
    "finish_reason",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "time_to_first_token",
    "duration",
    "cost",
)
CSV_BATCH = 500


def _period(value: str) -> tuple[str, Period]:
    if value not in PERIODS:
        raise InvalidRequest(f"period takes {', '.join(PERIODS)}", param="period")
    return value, PERIODS[value]


def _window(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """[start, end): whole buckets ending with the one that holds now, so the latest bar is the current hour/day."""
    if period.bucket == "hour":
        last = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    else:
        last = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = last + period.step
    return end - period.step * period.buckets, end


def _scope(caller: Caller | None) -> str | None:
    """The key whose rows the caller may read; None: every row (an admin key, or keys off)."""
    if caller is None or caller.is_admin:
        return None
    return caller.key_id


def _bucket_start(value: Any) -> datetime:
    """A summary row's hour or day value as an aware UTC instant, whatever type the database gave back."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bucket_name(moment: datetime, period: Period) -> str:
    # The same spellings as UsageQueries.summary's hour and day groups.
    return moment.isoformat() if period.bucket == "hour" else moment.date().isoformat()


def _key_labels(plane: ControlPlane) -> dict[str, str]:
    labels = {BOOTSTRAP_KEY_ID: "OPENMAAS_API_KEY"}
    for key in plane.keys.list(True):
        labels[key.id] = f"{key.name} ({key.prefix}…)" if key.name else f"{key.prefix}…"
    return labels


def _empty_totals() -> dict[str, Any]:
    return {"num_requests": 0, "num_prompt_tokens": 0, "num_cached_tokens": 0, "num_completion_tokens": 0, "cost": 0.0}


def usage_series(
    rows: list[dict[str, Any]], group_by: str, period: Period, start: datetime, labels: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Summary rows (one per group and bucket) as per-group series over every bucket, with totals.

    Groups come busiest first, so the largest stack sits at the bottom of a chart and the table's first row.
    """
    column = "key_id" if group_by == "key" else "model"
    size = period.buckets
    series: dict[str | None, dict[str, Any]] = {}
    totals: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        index = (_bucket_start(row[period.bucket]) - start) // period.step
        if not 0 <= index < size:
            continue  # a row at the very edge written after the window was computed
        name = row[column]
        if name not in series:
            if group_by == "model":
                label = name
            elif name is None:
                label = "no key"
            else:
                label = labels.get(name, name)
            series[name] = {
                "name": name,
                "label": label,
                "requests": [0] * size,
                "prompt_tokens": [0] * size,
                "completion_tokens": [0] * size,
                "tokens": [0] * size,
                "cost": [0.0] * size,
            }
            totals[name] = {"name": name, "label": label, **_empty_totals()}
        line = series[name]
        line["requests"][index] += row["num_requests"]
        line["prompt_tokens"][index] += row["num_prompt_tokens"]
        line["completion_tokens"][index] += row["num_completion_tokens"]
        line["tokens"][index] += row["num_prompt_tokens"] + row["num_completion_tokens"]
        line["cost"][index] += row["cost"]
        for field in TOTAL_FIELDS:
            totals[name][field] += row[field]
    order = sorted(series, key=lambda name: (-totals[name]["num_requests"], str(name)))
    total = _empty_totals()
    for name in order:
        for field in TOTAL_FIELDS:
            total[field] += totals[name][field]
        # Sums of float prices: rounded so that 0.1 + 0.2 reads as 0.3 on the page and in tests.
        totals[name]["cost"] = round(totals[name]["cost"], 9)
        series[name]["cost"] = [round(cost, 9) for cost in series[name]["cost"]]
    total["cost"] = round(total["cost"], 9)
    return [series[name] for name in order], [totals[name] for name in order], total


@router.get("/usage")
async def usage(caller: KeyDep, plane: ControlPlaneDep, period: str = "7d", group_by: str = "model") -> dict[str, Any]:
    """Requests, tokens and cost per hour (24h) or day, one series per model or key."""
    period_name, chosen = _period(period)
    if group_by not in GROUPS:
        raise InvalidRequest(f"group_by takes {', '.join(GROUPS)}", param="group_by")
    start, end = _window(chosen, utcnow())
    key_id = _scope(caller)
    # Read-your-writes: the rows of calls that already ended may still be queued.
    await run_in_threadpool(plane.writer.flush)
    rows = await run_in_threadpool(
        lambda: plane.usage.summary([group_by, chosen.bucket], key_id=key_id, start=start, end=end)
    )
    labels = await run_in_threadpool(_key_labels, plane) if group_by == "key" else {}
    series, totals, total = usage_series(rows, group_by, chosen, start, labels)
    return {
        "object": "usage_series",
        "period": period_name,
        "bucket": chosen.bucket,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "group_by": group_by,
        "buckets": [_bucket_name(start + chosen.step * index, chosen) for index in range(chosen.buckets)],
        "series": series,
        "totals": totals,
        "total": total,
    }


def _csv_line(values: tuple[Any, ...] | list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first: OWASP's CSV injection) made inert.

    Request ids come from clients (X-Request-Id), and the file is opened by admins.
    """
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_values(row: UsageRow) -> tuple[Any, ...]:
    return (
        row.created_at.isoformat(),
        _cell(row.request_id),
        _cell(row.key_prefix or ""),
        _cell(row.model),
        _cell(row.deployment or ""),
        row.dialect,
        _cell(row.status),
        _cell(row.finish_reason),
        row.num_prompt_tokens,
        row.num_cached_tokens,
        row.num_completion_tokens,
        "" if row.time_to_first_token is None else row.time_to_first_token,
        row.duration,
        row.cost,
    )


async def _csv_chunks(rows: Iterator[UsageRow]) -> AsyncIterator[str]:
    """The header, then the rows a batch at a time, each read and formatted off the event loop.

    iter_rows holds no session between its batches, so any pool thread may pull the next one;
    only a batch, never the whole period, is in memory at once.
    """

    def next_batch() -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        # range first: zip stops on it without pulling (and losing) one more row.
        for _, row in zip(range(CSV_BATCH), rows, strict=False):
            writer.writerow(_csv_values(row))
        return out.getvalue()

    yield _csv_line(CSV_COLUMNS)
    while chunk := await run_in_threadpool(next_batch):
        yield chunk


@router.get("/usage.csv")
async def usage_csv(caller: KeyDep, plane: ControlPlaneDep, period: str = "7d") -> StreamingResponse:
    """One line per call in the period, oldest first (a download: the page fetches it with the key)."""
    period_name, chosen = _period(period)
    start, end = _window(chosen, utcnow())
    key_id = _scope(caller)
    await run_in_threadpool(plane.writer.flush)
    rows = plane.usage.iter_rows(key_id=key_id, start=start, end=end, batch_size=CSV_BATCH)
    return StreamingResponse(
        _csv_chunks(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="openmaas-usage-{period_name}.csv"'},
    )
