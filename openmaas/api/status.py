"""Status of the loaded models: lifecycle (memory, requests, idle and load times) and engine counters."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from openmaas.api.deps import FleetDep
from openmaas.control.keep_alive import format_keep_alive
from openmaas.fleet.fleet import ModelState

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/status")
async def status(fleet: FleetDep) -> dict[str, Any]:
    """One entry per loaded model (operators and tests read it), plus the fleet's limits."""
    loaded = [e for e in fleet.entries() if e.state is ModelState.LOADED and e.served is not None]
    models = []
    for entry in loaded:
        served = entry.served
        if served is None:  # unloaded while an earlier model's stats were awaited
            continue
        stats = await served.engine.consistent_stats()
        models.append(
            {
                "id": entry.model_id,
                "healthy": served.engine.is_healthy(),
                "max_model_len": served.engine.config.max_model_len,
                "max_num_seqs": served.engine.config.max_num_seqs,
                "memory_bytes": entry.memory_bytes,
                "num_active_requests": entry.num_active,
                "idle_seconds": entry.idle_seconds,
                "keep_alive": format_keep_alive(entry.current_keep_alive),
                "loaded_at": entry.loaded_at,
                "load_seconds": entry.load_seconds,
                "num_loads": entry.num_loads,
                "engine": dataclasses.asdict(stats),
            }
        )
    return {
        "models": models,
        "fleet": {
            "num_registered_models": len(fleet.entries()),
            "max_loaded_models": fleet.max_loaded_models,
            "max_loaded_bytes": fleet.max_loaded_bytes,
            "loaded_bytes": sum(e.memory_bytes for e in loaded),
        },
    }
