"""Engine status per loaded model (counters of the engine; read by operators and tests)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from openmaas.api.deps import FleetDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/status")
async def status(fleet: FleetDep) -> dict[str, Any]:
    stats = {served.source.model_id: await served.engine.consistent_stats() for served in fleet.list()}
    return {
        "models": [
            {
                "id": served.source.model_id,
                "healthy": served.engine.is_healthy(),
                "max_model_len": served.engine.config.max_model_len,
                "max_num_seqs": served.engine.config.max_num_seqs,
                "engine": dataclasses.asdict(stats[served.source.model_id]),
            }
            for served in fleet.list()
        ]
    }
