"""/api/admin/keys and /api/admin/usage. Included with dependencies=[RequireAdminKey] (app.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from openmaas.api.admin.protocol import KeyCreate, KeyCreated, KeyPublic, KeysPublic
from openmaas.api.auth import Authenticator
from openmaas.api.deps import ControlPlaneDep
from openmaas.control.plane import ControlPlane
from openmaas.control.usage import UsageEntry
from openmaas.errors import InvalidRequest

router = APIRouter(prefix="/api/admin", tags=["admin"])


def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


async def _last_used(plane: ControlPlane, key_id: str | None = None) -> dict[str, datetime]:
    """When each key (or just key_id) last made a call."""
    # Read-your-writes: the rows of calls that already ended may still be queued.
    await run_in_threadpool(plane.writer.flush)
    return await run_in_threadpool(plane.usage.last_used, key_id)


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, plane: ControlPlaneDep) -> KeyCreated:
    key, secret = await run_in_threadpool(plane.keys.create, body.to_spec())
    return KeyCreated(**KeyPublic.from_row(key).model_dump(), key=secret)


@router.get("/keys")
async def list_keys(plane: ControlPlaneDep, include_revoked: bool = True) -> KeysPublic:
    keys = await run_in_threadpool(plane.keys.list, include_revoked)
    last_used = await _last_used(plane)
    return KeysPublic(data=[KeyPublic.from_row(key, last_used.get(key.id)) for key in keys], count=len(keys))


@router.get("/keys/{key_id}")
async def get_key(key_id: str, plane: ControlPlaneDep) -> KeyPublic:
    key = await run_in_threadpool(plane.keys.get, key_id)
    last_used = await _last_used(plane, key.id)
    return KeyPublic.from_row(key, last_used.get(key.id))


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, plane: ControlPlaneDep, authenticator: AuthenticatorDep) -> KeyPublic:
    """Revokes the key (kept, with its usage): 403 from then on."""
    key = await run_in_threadpool(plane.keys.revoke, key_id)
    authenticator.forget(key_id)
    return KeyPublic.from_row(key)


@router.post("/keys/{key_id}/revoke")
async def revoke_key_post(key_id: str, plane: ControlPlaneDep, authenticator: AuthenticatorDep) -> KeyPublic:
    return await revoke_key(key_id, plane, authenticator)


def _instant(value: str | None, name: str) -> datetime | None:
    """A date (its UTC midnight) or an ISO timestamp (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a date (2025-01-31) or an ISO timestamp", param=name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# A usage row on the wire is the control plane's own record of it.
_USAGE_ROWS = TypeAdapter(list[UsageEntry])


@router.get("/usage")
async def usage(
    plane: ControlPlaneDep,
    group_by: Annotated[str | None, Query(description="comma-separated: model, key, day, deployment, dialect")] = None,
    key_id: str | None = None,
    model: str | None = None,
    start: Annotated[str | None, Query(description="a date or timestamp (UTC), inclusive")] = None,
    end: Annotated[str | None, Query(description="a date (inclusive) or timestamp (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    """Totals grouped by model, key and day (``group_by``), or the latest rows when it is absent."""
    since = _instant(start, "start")
    until = _instant(end, "end")
    if end is not None and len(end) == 10 and until is not None:
        until += timedelta(days=1)
    # Read-your-writes: rows of calls that already ended are queued, not yet written.
    await run_in_threadpool(plane.writer.flush)
    if group_by:
        groups = [group.strip() for group in group_by.split(",") if group.strip()]
        data = await run_in_threadpool(
            lambda: plane.usage.summary(groups, key_id=key_id, model=model, start=since, end=until)
        )
        return {"object": "list", "group_by": groups, "data": data}
    rows = await run_in_threadpool(
        lambda: plane.usage.rows(key_id=key_id, model=model, start=since, end=until, limit=limit)
    )
    entries = [UsageEntry.from_row(row) for row in rows]
    return {"object": "list", "data": _USAGE_ROWS.dump_python(entries, mode="json")}
