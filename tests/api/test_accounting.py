"""One account per call: the response's usage, the usage row and its cost agree, for n > 1 and prompt lists,
streamed and not, on every dialect, on each database engine.

A server of its own per database (the shared one has no prices): it serves the bundled model again as
a priced catalog model, so each row's cost can be checked against the catalog's price.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import POSTGRES_URL, reset_postgres
from tests.live_server import AUTH, live_server

PRICED = "priced-gemma"
# Per million tokens; distinct, so a cost computed from swapped counts would not match.
INPUT_PRICE = 1000.0
OUTPUT_PRICE = 3000.0
CHAT = [{"role": "user", "content": "Name a colour."}]
PROMPTS = ["The sky is", "Two and two make", "A short poem about the sea:"]


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            POSTGRES_URL,
            id="postgresql",
            marks=pytest.mark.skipif(POSTGRES_URL is None, reason="OPENMAAS_TEST_POSTGRES_URL is not set"),
        ),
    ],
)
def api(
    tmp_path_factory: pytest.TempPathFactory, model_path: Path, request: pytest.FixtureRequest
) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("accounting-home")
    (home / "models").symlink_to(model_path.parent)  # the bundled model, assembled once per session
    database_url = f"sqlite:///{home / 'openmaas.db'}"
    if request.param != "sqlite":
        database_url = request.param
        reset_postgres(database_url)
    with (
        live_server(home, {"OPENMAAS_DATABASE_URL": database_url}) as url,
        httpx.Client(base_url=url, timeout=60.0, headers=AUTH) as client,
    ):
        added = client.post(
            "/api/admin/models",
            json={
                "id": PRICED,
                "source": str(model_path),
                "input_price_per_million": INPUT_PRICE,
                "output_price_per_million": OUTPUT_PRICE,
            },
        )
        assert added.status_code == 201, added.text
        created = client.post("/api/admin/deployments", json={"name": "priced", "model": PRICED})
        assert created.status_code == 201, created.text
        yield client


def _row(api: httpx.Client, request_id: str) -> dict[str, Any]:
    response = api.get("/api/admin/usage", params={"limit": 1000})
    assert response.status_code == 200, response.text
    rows = [row for row in response.json()["data"] if row["request_id"] == request_id]
    assert len(rows) == 1, rows
    return rows[0]


def _check(api: httpx.Client, request_id: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The row has the response's counts, and the catalog's price times them as its cost."""
    row = _row(api, request_id)
    assert row["status"] == "ok"
    assert row["num_prompt_tokens"] == usage["prompt_tokens"]
    assert row["num_completion_tokens"] == usage["completion_tokens"]
    if "prompt_tokens_details" in usage:
        assert row["num_cached_tokens"] == usage["prompt_tokens_details"]["cached_tokens"]
    expected = (usage["prompt_tokens"] * INPUT_PRICE + usage["completion_tokens"] * OUTPUT_PRICE) / 1e6
    assert row["cost"] == pytest.approx(expected, rel=1e-9)
    return row


def _call(api: httpx.Client, path: str, body: dict[str, Any], request_id: str, **headers: str) -> dict[str, Any]:
    """The call's usage as its client saw it: the body's, or a stream's last usage."""
    headers = {"X-Request-Id": request_id, **headers}
    if not body.get("stream"):
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        usage: dict[str, Any] = answer.get("data", answer)["usage"]
        return usage
    usage = {}
    with api.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            data = line.removeprefix("data:").strip()
            if data.startswith("{") and json.loads(data).get("usage"):
                usage = json.loads(data)["usage"]
    assert usage, "the stream carried no usage"
    return usage


def _prompt_tokens(api: httpx.Client, prompt: str) -> int:
    count: int = api.post("/tokenize", json={"model": PRICED, "prompt": prompt}).json()["count"]
    return count


STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])


@STREAMED
@pytest.mark.parametrize("n", [1, 3])
def test_chat_usage_equals_the_row_and_a_shared_prompt_counts_once(api: httpx.Client, stream: bool, n: int) -> None:
    request_id = f"chat-n{n}-{stream}"
    body = {"model": PRICED, "messages": CHAT, "max_tokens": 4, "n": n, "seed": 1, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    usage = _call(api, "/v1/chat/completions", body, request_id)
    _check(api, request_id, usage)
    if n > 1:
        alone = _call(api, "/v1/chat/completions", {**body, "n": 1}, f"{request_id}-alone")
        assert usage["prompt_tokens"] == alone["prompt_tokens"]  # once, not n times


@STREAMED
@pytest.mark.parametrize("n", [1, 2])
def test_a_completions_prompt_list_counts_each_prompt_once(api: httpx.Client, stream: bool, n: int) -> None:
    request_id = f"list-n{n}-{stream}"
    body = {"model": PRICED, "prompt": PROMPTS, "max_tokens": 3, "n": n, "stream": stream, "ignore_eos": True}
    if stream:
        body["stream_options"] = {"include_usage": True}
    usage = _call(api, "/v1/completions", body, request_id)
    _check(api, request_id, usage)
    assert usage["prompt_tokens"] == sum(_prompt_tokens(api, p) for p in PROMPTS)
    assert usage["completion_tokens"] == 3 * n * len(PROMPTS)


@STREAMED
def test_the_portal_dialect_bills_what_it_answers(api: httpx.Client, stream: bool) -> None:
    request_id = f"portal-{stream}"
    body = {"model": PRICED, "messages": CHAT, "maxTokens": 4, "n": 3, "stream": stream}
    usage = _call(api, "/api/v1/ai/chat/completions", body, request_id, **{"X-Openmaas-Envelope": "true"})
    _check(api, request_id, usage)


@STREAMED
def test_a_deployment_route_bills_what_it_answers(api: httpx.Client, stream: bool) -> None:
    request_id = f"deployment-{stream}"
    body = {"messages": CHAT, "max_tokens": 4, "n": 3, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    usage = _call(api, "/priced/v1/chat/completions", body, request_id)
    assert _check(api, request_id, usage)["deployment"] == "priced"


def test_the_generate_dialect_bills_what_it_answers(api: httpx.Client) -> None:
    body = {
        "model": PRICED,
        "request_id": "accounting",
        "prompt": "Hello",
        "stream_response": False,
        "generation_config": {"max_new_tokens": 4},
    }
    response = api.post("/api/generate", json=body, headers={"X-Request-Id": "generate"})
    assert response.status_code == 200, response.text
    usage = {
        "prompt_tokens": int(response.headers["X-Prompt-Tokens"]),
        "completion_tokens": int(response.headers["X-Completion-Tokens"]),
    }
    _check(api, "generate", usage)
