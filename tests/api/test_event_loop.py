"""Request work never blocks the event loop: while 8 MB prompts are handled, /health answers at once
and a running stream keeps its pace."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx

from tests.api.conftest import MODEL
from tests.live_server import AUTH

# Just under the 8 MiB body limit, and far more text than the 512-token context holds.
BIG_TEXT = "a " * 4_000_000
# Tokens the stream delivers before the big prompts are sent: its pace at rest.
NUM_BASELINE_TOKENS = 30


def _big_bodies() -> list[tuple[str, bytes]]:
    """The same 8 MB prompt on each route that takes a prompt, encoded once, before any timing."""
    bodies = [
        ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": BIG_TEXT}]}),
        ("/v1/completions", {"model": MODEL, "prompt": BIG_TEXT}),
        ("/tokenize", {"model": MODEL, "prompt": BIG_TEXT}),
        ("/api/generate", {"request_id": "big", "prompt": BIG_TEXT, "stream_response": False}),
    ]
    return [(path, json.dumps(body).encode()) for path, body in bodies]


@dataclass
class Observed:
    health_at_rest: list[float] = field(default_factory=list)
    health_during: list[float] = field(default_factory=list)
    # When each streamed chunk arrived, and how many had arrived when the big prompts were sent and answered.
    arrivals: list[float] = field(default_factory=list)
    num_before: int = 0
    num_after: int = 0
    answers: list[httpx.Response] = field(default_factory=list)

    def gaps(self, start: int, end: int) -> list[float]:
        times = self.arrivals[start:end]
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


async def _health(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    assert (await client.get("/health")).status_code == 200
    return time.perf_counter() - started


async def _observe(server_url: str) -> Observed:
    seen = Observed()
    big = _big_bodies()
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH, timeout=120) as client:
        seen.health_at_rest = [await _health(client) for _ in range(10)]
        baseline_done, big_done = asyncio.Event(), asyncio.Event()
        body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True, "stream": True}

        async def stream() -> None:
            async with client.stream("POST", "/v1/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        seen.arrivals.append(time.perf_counter())
                        if len(seen.arrivals) == NUM_BASELINE_TOKENS:
                            baseline_done.set()

        async def probe() -> None:
            while not big_done.is_set():
                seen.health_during.append(await _health(client))

        streaming = asyncio.create_task(stream())
        await baseline_done.wait()
        seen.num_before = len(seen.arrivals)
        probing = asyncio.create_task(probe())
        for path, raw in big:
            seen.answers.append(await client.post(path, content=raw, headers={"Content-Type": "application/json"}))
        big_done.set()
        await probing
        seen.num_after = len(seen.arrivals)
        assert not streaming.done(), "the stream ended before the big prompts were handled; make it longer"
        streaming.cancel()
    return seen


def test_big_prompts_leave_health_and_a_running_stream_responsive(server_url: str) -> None:
    seen = asyncio.run(asyncio.wait_for(_observe(server_url), timeout=300))
    for response in seen.answers:
        assert response.status_code == 400, response.text[:300]
        assert "bytes long" in response.text  # refused from its length, before any tokenizing
    assert seen.health_during, "no health probe ran while the big prompts were handled"
    # /health answers within 100 ms (beyond what this machine takes at rest).
    assert max(seen.health_during) < 0.1 + max(seen.health_at_rest), (seen.health_during, seen.health_at_rest)
    # The stream keeps its pace: no gap longer than twice its slowest step at rest, plus the same 100 ms.
    step = max(seen.gaps(1, seen.num_before))  # the first gap includes the prompt's prefill
    during = seen.gaps(seen.num_before - 1, seen.num_after + 1)
    assert during and max(during) < 2 * step + 0.1, (max(during), step)
