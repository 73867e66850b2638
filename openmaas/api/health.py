"""Liveness and readiness, usable as Kubernetes probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from openmaas.api.deps import FleetDep
from openmaas.api.drain import Drain

router = APIRouter(tags=["health"])

#: A readiness check: None when ready, else what is wrong.
ReadinessCheck = Callable[[], Awaitable[str | None]]


def get_drain(request: Request) -> Drain:
    drain: Drain = request.app.state.drain
    return drain


def get_readiness_checks(request: Request) -> list[ReadinessCheck]:
    checks: list[ReadinessCheck] = request.app.state.readiness_checks
    return checks


DrainDep = Annotated[Drain, Depends(get_drain)]
ReadinessChecksDep = Annotated[list[ReadinessCheck], Depends(get_readiness_checks)]


@router.get("/health", response_model=None)
async def health(fleet: FleetDep) -> dict[str, Any] | JSONResponse:
    """The process is alive and its engines' threads run (a liveness probe)."""
    engines = {m.source.model_id: m.engine.is_healthy() for m in fleet.list()}
    body = {"status": "ok" if all(engines.values()) else "degraded", "models": engines}
    return body if all(engines.values()) else JSONResponse(body, status_code=503)


@router.get("/ready", response_model=None)
async def ready(fleet: FleetDep, drain: DrainDep, checks: ReadinessChecksDep) -> dict[str, Any] | JSONResponse:
    """The server can take requests now (a readiness probe): not draining, engines up, checks passing."""
    problems = []
    if drain.is_draining:
        problems.append("draining: the server is shutting down")
    problems += [f"model {m.source.model_id} is not healthy" for m in fleet.list() if not m.engine.is_healthy()]
    for check in checks:
        problem = await check()
        if problem is not None:
            problems.append(problem)
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return {"status": "ready"}
