"""Fair admission: a call's size is capped, one key's burst does not starve another key, and calls
that would wait too long for a first token are refused with 429 and Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import MODEL
from tests.live_server import AUTH, live_server, new_key

CHAT = [{"role": "user", "content": "Tell me a story."}]


def test_a_call_of_ten_thousand_prompts_is_a_clear_400_at_once(http: httpx.Client) -> None:
    started = time.monotonic()
    completions = http.post("/v1/completions", json={"model": MODEL, "prompt": ["Hi"] * 10_000, "max_tokens": 1})
    batch = http.post(
        "/api/generate-batch", json={"prompts": [{"request_id": str(i), "prompt": "Hi"} for i in range(10_000)]}
    )
    # Prompts times n count: 5 prompts with n = 16 are 80 generations.
    choices = http.post("/v1/completions", json={"model": MODEL, "prompt": ["Hi"] * 5, "n": 16, "max_tokens": 1})
    for response in (completions, choices):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "prompt"
        assert "at most 64" in error["message"]
    assert batch.status_code == 400, batch.text
    assert batch.json()["param"] == "prompts" and "at most 64" in batch.json()["detail"]
    # Refused before any prompt is tokenized or queued: nothing is left waiting.
    assert time.monotonic() - started < 30
    assert http.post("/v1/completions", json={"model": MODEL, "prompt": ["Hi"] * 4, "max_tokens": 1}).status_code == 200


@pytest.fixture(scope="module")
def two_slots_url(openmaas_home: Path, model_path: Path) -> Iterator[str]:
    # Two sequences decode together, so a burst of calls has to queue.
    with live_server(openmaas_home, {"OPENMAAS_MAX_NUM_SEQS": "2"}) as url:
        yield url


async def _first_tokens(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    started: asyncio.Event,
    firsts: list[str],
    tag: str,
) -> None:
    """Streams one chat call; sets started once the server accepted it, appends tag at its first token."""
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                started.set()  # the role chunk: admitted, and its request is in the queue
                if '"content":"' in line and '"content":""' not in line and tag not in firsts:
                    firsts.append(tag)


def test_one_keys_burst_does_not_starve_another_keys_single_request(two_slots_url: str) -> None:
    with httpx.Client(base_url=two_slots_url, headers=AUTH) as admin:
        burst_key, single_key = new_key(admin), new_key(admin)
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 8, "ignore_eos": True, "stream": True}
    num_burst = 12

    async def run() -> list[str]:
        firsts: list[str] = []
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=two_slots_url, timeout=120, limits=limits) as client:
            started = [asyncio.Event() for _ in range(num_burst)]
            burst = [
                asyncio.create_task(_first_tokens(client, burst_key, body, started[i], firsts, f"burst-{i}"))
                for i in range(num_burst)
            ]
            for event in started:  # every request of the burst is queued before the single one comes
                await event.wait()
            await _first_tokens(client, single_key, body, asyncio.Event(), firsts, "single")
            await asyncio.gather(*burst)
        return firsts

    firsts = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert len(firsts) == num_burst + 1
    # First come, first served would put the single request last; served in turn between keys, it
    # starts after at most one round of the burst (the two running, two waiting in the engine, one more).
    assert len(firsts) - 1 - firsts.index("single") >= num_burst // 2, firsts


@pytest.fixture(scope="module")
def impatient_url(openmaas_home: Path, model_path: Path) -> Iterator[str]:
    # Any measured wait is over this bound, so a call waits only when nothing is queued ahead of it.
    env = {"OPENMAAS_MAX_NUM_SEQS": "2", "OPENMAAS_MAX_QUEUE_WAIT": "0.001"}
    with live_server(openmaas_home, env) as url:
        yield url


def test_a_call_that_would_wait_too_long_is_refused_with_retry_after(impatient_url: str) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 16, "ignore_eos": True}

    async def run() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(base_url=impatient_url, headers=AUTH, timeout=120) as client:
            # Nothing measured yet: the whole burst is admitted, and measures the service rate.
            burst = [asyncio.create_task(client.post("/v1/chat/completions", json=body)) for _ in range(24)]
            # Once 16 requests have started (ServiceRate's minimum), 8 still wait: a new call would too.
            while True:
                stats = (await client.get("/api/admin/status")).json()["models"][0]["engine"]
                if stats["num_generated_tokens"] >= 16 * 16 + 2:
                    break
                await asyncio.sleep(0.05)  # polling a condition, with the test's timeout as the bound
            late = await client.post("/v1/chat/completions", json=body)
            return list(await asyncio.gather(*burst)), late

    burst, late = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert [r.status_code for r in burst] == [200] * 24  # admitted calls all complete
    assert late.status_code == 429, late.text
    error = late.json()["error"]
    assert error["code"] == "queue_full" and "wait about" in error["message"]
    assert int(late.headers["Retry-After"]) >= 1
    # With the queue empty again nothing waits ahead of a call: admitted.
    assert httpx.post(f"{impatient_url}/v1/chat/completions", json=body, headers=AUTH, timeout=60).status_code == 200
