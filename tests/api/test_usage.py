"""Usage rows on the live server: one per call, with the tokens the caller was answered with."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from tests.api.conftest import MODEL
from tests.live_server import new_key

CHAT = [{"role": "user", "content": "Name a colour."}]


def _rows(http: httpx.Client, key_id: str) -> dict[str, dict[str, Any]]:
    response = http.get("/api/admin/usage", params={"key_id": key_id, "limit": 100})
    assert response.status_code == 200, response.text
    return {row["request_id"]: row for row in response.json()["data"]}


def _key_id(http: httpx.Client, auth: dict[str, str]) -> str:
    prefix = auth["Authorization"].removeprefix("Bearer ")[:11]
    keys = http.get("/api/admin/keys").json()["data"]
    return next(k["id"] for k in keys if k["prefix"] == prefix)


def test_usage_rows_equal_the_answers_token_counts_streamed_and_not(http: httpx.Client, server_url: str) -> None:
    auth = new_key(http)
    key_id = _key_id(http, auth)
    with httpx.Client(base_url=server_url, headers=auth, timeout=60) as caller:
        plain = caller.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": CHAT, "max_tokens": 5},
            headers={"X-Request-Id": "usage-plain"},
        ).json()["usage"]
        streamed_usage: dict[str, Any] = {}
        with caller.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": CHAT,
                "max_tokens": 6,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            headers={"X-Request-Id": "usage-streamed"},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {") and json.loads(line[6:]).get("usage"):
                    streamed_usage = json.loads(line[6:])["usage"]
        generate = caller.post(
            "/api/generate",
            json={
                "request_id": "usage-gen",
                "prompt": "Hello",
                "stream_response": False,
                "generation_config": {"max_new_tokens": 4},
            },
            headers={"X-Request-Id": "usage-generate"},
        )
    rows = _rows(http, key_id)
    for request_id, usage in (("usage-plain", plain), ("usage-streamed", streamed_usage)):
        row = rows[request_id]
        assert row["num_prompt_tokens"] == usage["prompt_tokens"]
        assert row["num_completion_tokens"] == usage["completion_tokens"]
        assert row["num_cached_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
        assert row["status"] == "ok" and row["dialect"] == "openai" and row["model"] == MODEL
        assert row["time_to_first_token"] is not None and row["duration"] >= row["time_to_first_token"]
    generated = rows["usage-generate"]
    assert generated["dialect"] == "generate"
    assert generated["num_prompt_tokens"] == int(generate.headers["X-Prompt-Tokens"])
    assert generated["num_completion_tokens"] == int(generate.headers["X-Completion-Tokens"])


def test_a_stream_cancelled_by_its_client_is_recorded_with_the_tokens_produced(
    http: httpx.Client, server_url: str
) -> None:
    auth = new_key(http)
    key_id = _key_id(http, auth)
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 300, "ignore_eos": True, "stream": True}
    with (
        httpx.Client(base_url=server_url, headers=auth, timeout=60) as caller,
        caller.stream(
            "POST", "/v1/chat/completions", json=body, headers={"X-Request-Id": "usage-cancelled"}
        ) as response,
    ):
        lines = response.iter_lines()
        for _ in range(4):
            next(lines)
    row = None
    for _ in range(600):  # the server notices the client left at its next write: poll, with a bound
        row = _rows(http, key_id).get("usage-cancelled")
        if row is not None:
            break
        threading.Event().wait(0.05)
    assert row is not None
    assert row["status"] == "cancelled"
    assert 0 < row["num_completion_tokens"] < 300


def test_a_key_may_only_use_its_allowed_models(http: httpx.Client, server_url: str) -> None:
    auth = new_key(http, allowed_models=["some-other-model"])
    response = httpx.post(
        f"{server_url}/v1/chat/completions",
        json={"model": MODEL, "messages": CHAT, "max_tokens": 2},
        headers=auth,
        timeout=60,
    )
    # As for a model that does not exist: a key learns nothing of the models it may not use.
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
