"""The portal dialect (/api/v1/ai/...): the seed's examples as written, camelCase fields, the envelope,
the event:messages stream, and the negotiation that answers OpenAI's SDKs in OpenAI's shapes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from openai import OpenAI

from openmaas.api.completions.serving import _guarded
from openmaas.api.metering import Metrics
from openmaas.api.portal.shape import ENVELOPE_SHAPE, PortalEnvelopeShape
from openmaas.errors import Overloaded
from tests.api.conftest import MODEL
from tests.examples_runner import NODE_DIR, node_with_openai
from tests.live_server import ADMIN_KEY, live_server

CHAT = "/api/v1/ai/chat/completions"
SEA = [{"role": "user", "content": "Write one sentence about the sea."}]
SEED_TOKEN = "seed-token"

ENVELOPE_KEYS = ["code", "msg", "data"]
DATA_KEYS = ["id", "object", "created", "model", "choices", "usage", "prompt_logprobs"]
CHOICE_KEYS = ["index", "message", "logprobs", "finish_reason", "stop_reason"]
MESSAGE_KEYS = ["role", "content", "tool_calls"]
USAGE_KEYS = ["prompt_tokens", "total_tokens", "completion_tokens"]
CHUNK_KEYS = ["id", "object", "created", "model", "choices", "usage"]

# The seed's cURL command, character for character but for the URL, the token and the model.
SEED_CURL = """curl --location '{url}' \\
--header 'Content-Type: application/json' \\
--header 'Authorization: Bearer {token}' \\
--data '{{
    "messages": [
        {{
            "role": "system",
            "content": ""
        }},
        {{
            "role": "user",
            "content": "hi"
        }}
    ],
    "model": "{model}",
    "stream": false,
    "maxTokens": 1024,
    "temperature": 0.5,
    "topP": 0.02
}}'
"""

# The seed's Python example, with the key's variable, the URL and the model swapped in.
SEED_PYTHON = """import requests
import os
import openai

API_KEY = os.getenv("OPENMAAS_API_KEY")

client = openai.OpenAI(
    base_url="{base_url}",
    api_key=API_KEY
)

completion = client.chat.completions.create(
    model="{model}",
    messages=[
        {{"role": "user", "content": "say hello"}},
    ],
    max_tokens=128,
    stream=True,
)

for chunk in completion:
    if not chunk.choices:
        continue
    content = chunk.choices[0].delta.content
    if content:
        print(content, end="")
"""


@pytest.fixture(scope="module")
def seed_server_url(openmaas_home: Path, model_path: Path) -> Iterator[str]:
    """A server with an API key and a 32-token context, for the seed's examples.

    Their requests stay exactly as written; their generous output limits (1024, 128, none) end at
    the context instead (finish_reason "length"), which keeps these runs short on a CPU.
    """
    env = {"OPENMAAS_MAX_MODEL_LEN": "32", "OPENMAAS_API_KEY": SEED_TOKEN}
    with live_server(openmaas_home, env) as url:
        yield url


@pytest.fixture(scope="module")
def portal_client(server_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{server_url}/api/v1/ai", api_key=ADMIN_KEY, max_retries=0) as sdk:
        yield sdk


def chat(http: httpx.Client, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    return http.post(CHAT, json={"model": MODEL, "messages": SEA, **fields}, headers=headers)


def envelope_data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["code"] == 200 and body["msg"] == "Operation successful"
    data: dict[str, Any] = body["data"]
    return data


def parse_events(text: str) -> list[dict[str, Any]]:
    """The stream's events, each checked to be exactly `event:messages` and one `data:` line."""
    assert text.endswith("\n\n")
    payloads = []
    for event in text[: -len("\n\n")].split("\n\n"):
        name, data = event.split("\n")
        assert name == "event:messages"
        assert data.startswith("data:{")
        payloads.append(json.loads(data[len("data:") :]))
    return payloads


def stream_events(http: httpx.Client, headers: dict[str, str] | None = None, **fields: Any) -> list[dict[str, Any]]:
    body = {"model": MODEL, "messages": SEA, "stream": True, **fields}
    with http.stream("POST", CHAT, json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    return parse_events(text)


def assert_error_envelope(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["code"] == status and body["data"] is None
    assert isinstance(body["msg"], str) and body["msg"]
    message: str = body["msg"]
    return message


# The seed's examples, as written ----------------------------------------------------------


def test_seed_curl_command_gets_exactly_the_seeds_envelope(seed_server_url: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("the curl binary is needed to run the seed's cURL command")
    command = SEED_CURL.format(url=f"{seed_server_url}{CHAT}", token=SEED_TOKEN, model=MODEL)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300, check=True)
    body = json.loads(done.stdout)
    assert list(body) == ENVELOPE_KEYS
    assert body["code"] == 200 and body["msg"] == "Operation successful"
    data = body["data"]
    assert list(data) == DATA_KEYS
    assert data["id"].startswith("chat-") and len(data["id"]) == len("chat-") + 32
    assert data["object"] == "chat.completion"
    assert data["model"] == MODEL
    assert isinstance(data["created"], int)
    (choice,) = data["choices"]
    assert list(choice) == CHOICE_KEYS
    assert list(choice["message"]) == MESSAGE_KEYS
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant" and choice["message"]["tool_calls"] == []
    assert choice["message"]["content"]
    assert choice["logprobs"] is None
    assert choice["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert list(usage) == USAGE_KEYS
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert data["prompt_logprobs"] is None


def test_seed_python_example_streams_text(seed_server_url: str, tmp_path: Path) -> None:
    script = tmp_path / "seed_example.py"
    script.write_text(SEED_PYTHON.format(base_url=f"{seed_server_url}/api/v1/ai", model=MODEL))
    env = {**os.environ, "OPENMAAS_API_KEY": SEED_TOKEN}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_seed_node_example_prints_the_choices(seed_server_url: str) -> None:
    node = node_with_openai()
    env = {
        **os.environ,
        "OPENMAAS_API_KEY": SEED_TOKEN,
        "OPENMAAS_BASE_URL": f"{seed_server_url}/api/v1/ai",
        "OPENMAAS_MODEL": MODEL,
    }
    done = subprocess.run(
        [node, "seed_example.mjs"], cwd=NODE_DIR, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    # console.log of the choices array, in Node's inspect format.
    assert done.stdout.startswith("[")
    assert "index: 0" in done.stdout
    assert "role: 'assistant'" in done.stdout
    assert "finish_reason: 'stop'" in done.stdout or "finish_reason: 'length'" in done.stdout


def test_a_missing_or_wrong_key_is_a_401(seed_server_url: str) -> None:
    url = f"{seed_server_url}{CHAT}"
    body = {"model": MODEL, "messages": SEA, "maxTokens": 1}
    assert_error_envelope(httpx.post(url, json=body), 401)
    assert_error_envelope(httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}), 401)
    with (
        OpenAI(base_url=f"{seed_server_url}/api/v1/ai", api_key="wrong", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(model=MODEL, messages=SEA, max_tokens=1)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_api_key"


# The envelope and the stream ---------------------------------------------------------------


def test_streamed_chunks_carry_running_usage_and_end_with_finish_reason(http: httpx.Client) -> None:
    whole = envelope_data(chat(http, maxTokens=8, temperature=0, seed=3))
    events = stream_events(http, maxTokens=8, temperature=0, seed=3)
    assert all(list(event) == CHUNK_KEYS for event in events)
    assert len({event["id"] for event in events}) == 1
    assert events[0]["id"].startswith("chat-")
    assert {event["object"] for event in events} == {"chat.completion.chunk"}
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    usages = [event["usage"] for event in events]
    assert all(list(usage) == USAGE_KEYS for usage in usages)
    assert usages[0]["completion_tokens"] == 0
    assert {usage["prompt_tokens"] for usage in usages} == {whole["usage"]["prompt_tokens"]}
    completion = [usage["completion_tokens"] for usage in usages]
    assert completion == sorted(completion)
    assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usages)
    assert completion[-1] == whole["usage"]["completion_tokens"]
    finishes = [event["choices"][0]["finish_reason"] for event in events]
    assert finishes[-1] == whole["choices"][0]["finish_reason"]
    assert all(reason is None for reason in finishes[:-1])
    text = "".join(event["choices"][0]["delta"].get("content", "") for event in events)
    assert text == whole["choices"][0]["message"]["content"]


def test_include_usage_adds_a_usage_chunk_without_choices(http: httpx.Client) -> None:
    events = stream_events(http, maxTokens=3, topK=1, streamOptions={"includeUsage": True})
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 3
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_errors_inside_a_started_stream_are_an_envelope_event() -> None:
    async def failing() -> AsyncGenerator[dict[str, Any], None]:
        yield {"id": "chat-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": []}
        raise Overloaded("the engine failed")

    async def run() -> list[str]:
        meter = Metrics(lambda: {}).meter(MODEL, ENVELOPE_SHAPE.name)
        return [event async for event in _guarded(failing(), meter, ENVELOPE_SHAPE)]

    events = parse_events("".join(asyncio.run(run())))
    assert len(events) == 2
    assert events[1] == {"code": 503, "msg": "the engine failed", "data": None}
    assert PortalEnvelopeShape().stream_end() is None


# camelCase and snake_case ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["maxTokens", "max_tokens", "maxCompletionTokens", "max_completion_tokens"])
def test_output_limit_in_either_spelling(http: httpx.Client, field: str) -> None:
    data = envelope_data(chat(http, topK=1, **{field: 3}))
    assert data["usage"]["completion_tokens"] == 3
    assert data["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("field", ["topK", "top_k"])
def test_top_k_one_is_greedy(http: httpx.Client, field: str) -> None:
    def text(**fields: Any) -> str:
        content: str = envelope_data(chat(http, maxTokens=12, seed=5, **fields))["choices"][0]["message"]["content"]
        return content

    greedy = text(temperature=0)
    assert text(temperature=1.5, **{field: 1}) == greedy
    assert text(temperature=1.5) != greedy  # the same seed without top-k: sampling did happen


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"topP": 2}, "top_p"),
        ({"minP": 2}, "min_p"),
        ({"topA": 2}, "top_a"),
        ({"typicalP": 0}, "typical_p"),
        ({"frequencyPenalty": 5}, "frequency_penalty"),
        ({"presencePenalty": 5}, "presence_penalty"),
        ({"repetitionPenalty": 0}, "repetition_penalty"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"minTokens": -1}, "min_tokens"),
        ({"stopTokenIds": [10**9]}, "stop_token_ids"),
        ({"logitBias": {"x": 1}}, "logit_bias"),
        ({"topLogprobs": 2}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"responseFormat": {"type": "json_schema", "jsonSchema": {"name": "x"}}}, "json_schema.schema"),
        ({"streamOptions": {"includeUsage": "sometimes"}}, "streamOptions.includeUsage"),
        ({"ignoreEos": "x"}, "ignoreEos"),
    ],
)
def test_each_camel_case_field_reaches_its_parameter(http: httpx.Client, fields: dict[str, Any], named: str) -> None:
    message = assert_error_envelope(chat(http, maxTokens=2, **fields), 400)
    assert named in message


def test_logprobs_with_top_logprobs(http: httpx.Client) -> None:
    data = envelope_data(chat(http, maxTokens=3, topK=1, logprobs=True, topLogprobs=2))
    entries = data["choices"][0]["logprobs"]["content"]
    assert entries and all(len(entry["top_logprobs"]) == 2 for entry in entries)


def test_response_format_with_a_camel_case_json_schema(http: httpx.Client) -> None:
    schema = {"type": "boolean"}
    response_format = {"type": "json_schema", "jsonSchema": {"name": "answer", "schema": schema}}
    data = envelope_data(chat(http, maxTokens=8, temperature=0, responseFormat=response_format))
    assert data["choices"][0]["message"]["content"] in ("true", "false")


def test_unknown_fields_are_accepted_and_logged(http: httpx.Client, server_url: str, openmaas_home: Path) -> None:
    envelope_data(chat(http, maxTokens=1, someVendorFlag=True))
    log = openmaas_home / f"server-{urlsplit(server_url).port}.log"
    assert "ignoring unknown fields of PortalChatCompletionRequest: ['someVendorFlag']" in log.read_text()


# Negotiation: OpenAI's SDKs get OpenAI's shapes ----------------------------------------------


def test_sdk_gets_a_plain_chat_completion(portal_client: OpenAI) -> None:
    response = portal_client.chat.completions.create(model=MODEL, messages=SEA, max_tokens=3, extra_body={"topK": 1})
    assert response.id.startswith("chat-")
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 3


def test_sdk_stream_with_usage(portal_client: OpenAI) -> None:
    # Greedy (topK 1), so no sampled end-of-turn can cut the three tokens short.
    stream = portal_client.chat.completions.create(
        model=MODEL,
        messages=SEA,
        max_tokens=3,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"topK": 1},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_sdk_errors_have_openais_shape(portal_client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        portal_client.chat.completions.create(model="no-such-model", messages=SEA, max_tokens=1)
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "model_not_found"


def test_sdk_lists_models(portal_client: OpenAI) -> None:
    assert [model.id for model in portal_client.models.list()] == [MODEL]


def test_the_override_header_wins(http: httpx.Client) -> None:
    sdk = {"X-Stainless-Lang": "python"}
    plain = chat(http, headers={"X-Openmaas-Envelope": "false"}, maxTokens=1)
    assert plain.status_code == 200 and "choices" in plain.json()
    assert plain.headers["x-openmaas-envelope"] == "false"
    wrapped = chat(http, headers={**sdk, "X-Openmaas-Envelope": "TRUE"}, maxTokens=1)
    envelope_data(wrapped)
    assert wrapped.headers["x-openmaas-envelope"] == "true"
    # Origin too where CORS origins are configured (the session's server allows one): the answer depends on it.
    vary = [name.strip() for name in wrapped.headers["vary"].split(",")]
    assert vary[:2] == ["X-Stainless-Lang", "X-Openmaas-Envelope"]
    assert set(vary[2:]) <= {"Origin"}
    assert "X-Openmaas-Envelope" in assert_error_envelope(
        chat(http, headers={"X-Openmaas-Envelope": "maybe"}, maxTokens=1), 400
    )


def test_openai_framed_stream_ends_with_done(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": SEA, "maxTokens": 2, "stream": True}
    with http.stream("POST", CHAT, json=body, headers={"X-Stainless-Lang": "js"}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_models_in_the_envelope(http: httpx.Client) -> None:
    data = envelope_data(http.get("/api/v1/ai/models"))
    assert [model["id"] for model in data["data"]] == [MODEL]


# Errors in the envelope ----------------------------------------------------------------------


def test_bad_json_is_a_400_envelope(http: httpx.Client) -> None:
    response = http.post(CHAT, content=b'{"model": ', headers={"Content-Type": "application/json"})
    assert assert_error_envelope(response, 400) == "the request body is not valid JSON"


def test_a_wrong_type_is_a_400_envelope(http: httpx.Client) -> None:
    assert "maxTokens" in assert_error_envelope(chat(http, maxTokens="many"), 400)
    assert "messages" in assert_error_envelope(http.post(CHAT, json={"model": MODEL}), 400)


def test_an_unknown_model_is_a_404_envelope(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "no-such-model", "messages": SEA})
    assert "no-such-model" in assert_error_envelope(response, 404)


def test_an_unknown_route_under_the_prefix_is_a_404_envelope(http: httpx.Client) -> None:
    assert_error_envelope(http.post("/api/v1/ai/no/such/route", json={}), 404)
    assert_error_envelope(http.get("/api/v1/ai/"), 404)


def test_a_wrong_method_is_a_405_envelope(http: httpx.Client) -> None:
    assert_error_envelope(http.get(CHAT), 405)


def test_an_oversized_body_is_a_413_envelope(http: httpx.Client) -> None:
    filler = "a" * (8 * 1024 * 1024)  # the default max_request_bytes is 8 MiB
    response = http.post(CHAT, json={"model": MODEL, "messages": [{"role": "user", "content": filler}]})
    assert_error_envelope(response, 413)


def test_openai_dialect_errors_are_unchanged(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"model": "no-such-model", "messages": SEA})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
