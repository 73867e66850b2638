"""Liveness of the process and its engines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from openmaas.api.deps import FleetDep

router = APIRouter(tags=["health"])


@router.get("/health", response_model=None)
async def health(fleet: FleetDep) -> dict[str, Any] | JSONResponse:
    engines = {m.source.model_id: m.engine.is_healthy() for m in fleet.list()}
    body = {"status": "ok" if all(engines.values()) else "degraded", "models": engines}
    return body if all(engines.values()) else JSONResponse(body, status_code=503)
