"""Running it in production: admission control, readiness, and a graceful drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openmaas.app import _database_reachable
from openmaas.control.db import create_db_engine, session_factory
from openmaas.control.plane import ControlPlane
from openmaas.control.usage import UsageQueries
from tests.api.conftest import MODEL
from tests.live_server import AUTH, live_server, server_process

CHAT = [{"role": "user", "content": "Name three colours."}]


def test_ready_answers_200_when_the_server_can_serve(http: httpx.Client) -> None:
    response = http.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.fixture(scope="module")
def small_queue_url(openmaas_home: Path, model_path: Path) -> Iterator[str]:
    # Two running sequences; two requests at most between admission and their first token.
    env = {"OPENMAAS_MAX_NUM_SEQS": "2", "OPENMAAS_MAX_QUEUED_REQUESTS": "2"}
    with live_server(openmaas_home, env) as url:
        yield url


def test_a_flood_past_the_caps_gets_429s_at_once_and_every_admitted_request_completes(small_queue_url: str) -> None:
    # Seeded: a seeded request gets the same tokens alone and in a batch (docs/determinism.md).
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 16, "temperature": 0, "seed": 0}
    solo = httpx.post(f"{small_queue_url}/v1/chat/completions", json=body, headers=AUTH, timeout=60).json()
    expected = solo["choices"][0]["message"]["content"]

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=small_queue_url, headers=AUTH, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(12)))

    responses = asyncio.run(asyncio.wait_for(flood(), timeout=120))  # nothing hangs
    refused = [r for r in responses if r.status_code == 429]
    admitted = [r for r in responses if r.status_code == 200]
    assert len(refused) + len(admitted) == 12
    assert refused and admitted
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()["error"]
        assert error["code"] == "queue_full" and error["type"] == "rate_limit_error"
    for response in admitted:
        assert response.json()["choices"][0]["message"]["content"] == expected


def test_a_refused_generate_request_gets_its_dialects_shape(small_queue_url: str) -> None:
    # Long enough that the first four are still in the engine when the last ones arrive (4 tokens were not, once).
    config = {"max_new_tokens": 48, "do_sample": False}
    body = {"request_id": "", "prompt": "hi", "stream_response": False, "generation_config": config}

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=small_queue_url, headers=AUTH, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/api/generate", json={**body, "request_id": f"flood-{i}"}) for i in range(12))
            )

    responses = asyncio.run(asyncio.wait_for(flood(), timeout=120))
    refused = [r for r in responses if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in responses)
    assert refused[0].json() == {"detail": refused[0].json()["detail"], "code": "queue_full", "param": None}
    assert "Retry-After" in refused[0].headers


def test_sigterm_mid_stream_ends_the_stream_with_a_finish_reason_and_exits_0(
    openmaas_home: Path, model_path: Path
) -> None:
    env = {"OPENMAAS_DRAIN_TIMEOUT": "1", "OPENMAAS_MAX_MODEL_LEN": "1024"}
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 1000,
        "ignore_eos": True,
        "stream": True,
    }
    with server_process(openmaas_home, env) as (url, process):
        finish_reasons: list[str] = []
        lines: list[str] = []
        with httpx.stream(
            "POST", f"{url}/v1/chat/completions", json=body, headers={**AUTH, "X-Request-Id": "drained"}, timeout=60
        ) as response:
            for line in response.iter_lines():
                if not line:
                    continue
                lines.append(line)
                if len(lines) == 3:
                    process.send_signal(signal.SIGTERM)
                if line.startswith("data: {"):
                    for choice in json.loads(line.removeprefix("data: "))["choices"]:
                        if choice["finish_reason"]:
                            finish_reasons.append(choice["finish_reason"])
        # The generation could not finish 1000 tokens within the 1 s drain: it was aborted, cleanly.
        assert finish_reasons == ["abort"]
        assert lines[-1] == "data: [DONE]"
        assert process.wait(timeout=60) == 0
    # Its usage row was flushed before the exit.
    engine = create_db_engine(f"sqlite:///{openmaas_home / 'openmaas.db'}")
    try:
        rows = UsageQueries(session_factory(engine), engine).rows(limit=10_000)
    finally:
        engine.dispose()
    drained = [row for row in rows if row.request_id == "drained"]
    assert len(drained) == 1
    assert drained[0].finish_reason == "abort" and drained[0].num_completion_tokens > 0


def test_a_request_timeout_ends_the_call_as_if_its_token_limit_were_reached(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 400, "ignore_eos": True}
    response = http.post("/v1/chat/completions", json=body, headers={"X-Request-Timeout": "0.5"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] < 400
    # Streamed too: the last chunk says so.
    reasons = []
    with http.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers={"X-Request-Timeout": "0.5"}
    ) as streamed:
        for line in streamed.iter_lines():
            if line.startswith("data: {"):
                reasons += [c["finish_reason"] for c in json.loads(line[6:])["choices"] if c["finish_reason"]]
    assert reasons == ["length"]


def test_ready_reports_an_unreachable_database(tmp_path: Path) -> None:
    # Nothing listens on port 1: the check names the problem instead of raising.
    unreachable = ControlPlane("postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    reachable = ControlPlane(f"sqlite:///{tmp_path / 'ready.db'}")
    try:
        problem = asyncio.run(_database_reachable(unreachable))
        assert problem is not None and "database" in problem
        assert asyncio.run(_database_reachable(reachable)) is None
    finally:
        unreachable.engine.dispose()
        reachable.engine.dispose()
