"""What a call holds (its model lease, its queue room, its open account) ends with its HTTP request,
however the request ends: here, clients that leave a stream at once or after its first chunk."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.api.conftest import MODEL

BODY = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 200, "ignore_eos": True, "stream": True, "n": 2}


def _active(http: httpx.Client) -> int:
    models = http.get("/api/admin/status").json()["models"]
    count: int = next(entry["num_active_requests"] for entry in models if entry["id"] == MODEL)
    return count


def _row(http: httpx.Client, request_id: str) -> dict[str, Any] | None:
    rows = http.get("/api/admin/usage", params={"limit": 1000}).json()["data"]
    return next((row for row in rows if row["request_id"] == request_id), None)


def test_a_stream_left_by_its_client_releases_everything_it_held(http: httpx.Client) -> None:
    for request_id, chunks_read in (("scope-at-once", 0), ("scope-after-one", 1)):
        with http.stream("POST", "/v1/completions", json=BODY, headers={"X-Request-Id": request_id}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            for _ in range(chunks_read):
                next(lines)
        row = None
        for _ in range(600):  # the server notices at its next write: poll, with a bound
            row = _row(http, request_id)
            if row is not None and _active(http) == 0:
                break
            threading.Event().wait(0.05)
        assert row is not None and row["status"] == "cancelled"
        assert row["num_completion_tokens"] < 2 * 200
        assert _active(http) == 0
    # The queue room of both calls went back too: a call as large as the queue allows still gets in.
    answer = http.post("/v1/completions", json={**BODY, "stream": False, "max_tokens": 2})
    assert answer.status_code == 200, answer.text
