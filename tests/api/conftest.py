"""The API tests' helpers; the live server they share is in tests/conftest.py."""

from __future__ import annotations

import httpx

from tests.live_server import ALIAS, DEPLOYMENTS, MODEL

__all__ = ["ALIAS", "DEPLOYMENTS", "MODEL", "engine_stats"]


def engine_stats(http: httpx.Client, model: str = MODEL) -> dict[str, int]:
    """The engine counters of the model (loaded: it is the server's own unless a test unloaded it)."""
    models = http.get("/api/admin/status").json()["models"]
    stats: dict[str, int] = next(entry["engine"] for entry in models if entry["id"] == model)
    return stats
