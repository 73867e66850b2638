"""The request log: one line per call, with its request id and counts, and never its text."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import httpx

from openmaas.log import JsonFormatter, RequestIdFilter, request_id_var
from tests.api.conftest import MODEL

SECRET_PROMPT = "my very private prompt about zebras"


def _server_log(openmaas_home: Path, server_url: str) -> str:
    port = server_url.rsplit(":", 1)[1]
    return (openmaas_home / f"server-{port}.log").read_text()


def test_each_call_logs_one_line_with_its_id_and_counts_but_not_its_text(
    http: httpx.Client, openmaas_home: Path, server_url: str
) -> None:
    # Greedy, so the answer is the same every run (and not a short word a log line holds by chance).
    body = {"model": MODEL, "messages": [{"role": "user", "content": SECRET_PROMPT}], "max_tokens": 3, "temperature": 0}
    response = http.post("/v1/chat/completions", json=body, headers={"X-Request-Id": "log-test-1"})
    assert response.headers["X-Request-Id"] == "log-test-1"
    usage = response.json()["usage"]
    answer = response.json()["choices"][0]["message"]["content"]
    # The line is written before the answer is sent, so it is in the file by now.
    lines = [line for line in _server_log(openmaas_home, server_url).splitlines() if "[log-test-1]" in line]
    request_lines = [line for line in lines if "openmaas.requests" in line]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert f"prompt={usage['prompt_tokens']} " in line
    assert f"completion={usage['completion_tokens']} " in line
    assert "status=ok" in line and "openai" in line and MODEL in line
    assert re.search(r"ttft=\d+ms duration=\d+ms", line)
    log = _server_log(openmaas_home, server_url)
    assert SECRET_PROMPT not in log
    assert answer.strip() and answer not in log


def test_a_request_without_an_id_gets_one(http: httpx.Client) -> None:
    response = http.get("/v1/models")
    assert re.fullmatch(r"req-[0-9a-f]{32}", response.headers["X-Request-Id"])
    # An id that is not plain text is replaced, not echoed into the logs.
    odd = http.get("/v1/models", headers={"X-Request-Id": "bad id\twith spaces"})
    assert odd.headers["X-Request-Id"].startswith("req-")


def test_json_lines_carry_the_request_id_and_the_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("openmaas.test_json_log")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-abc")
    try:
        logger.warning("served %s", "x", extra={"prompt_tokens": 7})
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "req-abc"
    assert entry["message"] == "served x"
    assert entry["prompt_tokens"] == 7
    assert entry["level"] == "WARNING" and entry["logger"] == "openmaas.test_json_log"
