"""The API tests' helpers; the live server they share is in tests/conftest.py."""

from __future__ import annotations

import httpx

from tests.live_server import ALIAS, DEPLOYMENTS, MODEL

__all__ = ["ALIAS", "DEPLOYMENTS", "MODEL", "engine_stats"]


def engine_stats(http: httpx.Client) -> dict[str, int]:
    models = http.get("/api/admin/status").json()["models"]
    stats: dict[str, int] = models[0]["engine"]
    return stats
