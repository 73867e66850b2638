"""Durable metering: a server killed with SIGKILL loses no usage.

Calls whose clients held their final chunk when the server died have their rows after a restart, and
calls cut mid-stream have ``interrupted`` rows with the tokens their clients had received (counted on
the client, one logprobs entry per token), on each database engine.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import AUTH, MODEL, server_process

NUM_FINISHED = 4
NUM_CUT = 4
# Long enough that the cut calls are still running when the server dies.
LONG = 400
SHORT = 3
WAIT = 120.0  # seconds: a bound on each wait below, never a pause


@dataclass
class _Stream:
    """One streamed completion as its client saw it."""

    request_id: str
    max_tokens: int
    num_tokens: int = 0
    has_final_chunk: bool = False
    # Set once the stream reached what the test waits for (tokens flowing, or its final chunk).
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, base_url: str) -> None:
        body = {
            "model": MODEL,
            "prompt": "Once upon a time",
            "max_tokens": self.max_tokens,
            "ignore_eos": True,
            "logprobs": 0,
            "stream": True,
        }
        headers = {**AUTH, "X-Request-Id": self.request_id}
        try:
            with (
                httpx.Client(base_url=base_url, timeout=WAIT) as client,
                client.stream("POST", "/v1/completions", json=body, headers=headers) as response,
            ):
                for line in response.iter_lines():
                    if not line.startswith("data: {"):
                        continue
                    choice = json.loads(line[6:])["choices"][0]
                    if choice.get("logprobs"):
                        self.num_tokens += len(choice["logprobs"]["tokens"])
                    if choice["finish_reason"] is not None:
                        self.has_final_chunk = True
                        self.ready.set()
                    elif self.max_tokens == LONG and self.num_tokens >= 2:
                        self.ready.set()
        except httpx.HTTPError:
            pass  # the server died: what was read before is what the client received
        finally:
            self.ready.set()
            self.done.set()


def _start(streams: list[_Stream], base_url: str) -> None:
    for stream in streams:
        threading.Thread(target=stream.run, args=(base_url,), daemon=True).start()
    for stream in streams:
        assert stream.ready.wait(WAIT), f"{stream.request_id} never got going"


def test_sigkill_loses_no_usage(tmp_path: Path, database_url: str, model_path: Path) -> None:
    (tmp_path / "models").symlink_to(model_path.parent)  # the bundled model, assembled once per session
    env = {"OPENMAAS_DATABASE_URL": database_url}
    cut = [_Stream(f"cut-{i}", LONG) for i in range(NUM_CUT)]
    finished = [_Stream(f"finished-{i}", SHORT) for i in range(NUM_FINISHED)]
    with server_process(tmp_path, env) as (base_url, process):
        _start(cut, base_url)  # streaming, and still far from their end
        _start(finished, base_url)  # each client holds its final chunk now
        process.send_signal(signal.SIGKILL)
        process.wait()
        for stream in cut + finished:
            assert stream.done.wait(WAIT)
    assert all(s.has_final_chunk for s in finished)
    assert not any(s.has_final_chunk for s in cut)

    with server_process(tmp_path, env) as (base_url, _), httpx.Client(base_url=base_url, headers=AUTH) as http:
        response = http.get("/api/admin/usage", params={"limit": 1000})
        assert response.status_code == 200, response.text
        rows: dict[str, dict[str, Any]] = {row["request_id"]: row for row in response.json()["data"]}
    for stream in finished:
        row = rows[stream.request_id]
        assert row["status"] == "ok"
        assert row["num_completion_tokens"] == stream.num_tokens == SHORT
    for stream in cut:
        row = rows[stream.request_id]
        assert row["status"] == "interrupted"
        assert 0 < stream.num_tokens < LONG
        assert row["num_completion_tokens"] == stream.num_tokens
        assert row["num_prompt_tokens"] > 0
    assert len(rows) == NUM_CUT + NUM_FINISHED
