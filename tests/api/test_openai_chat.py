"""The OpenAI dialect through the official SDK and raw HTTP, against the live server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.api.conftest import MODEL, engine_stats

HELLO = [{"role": "user", "content": "Write one sentence about the sea."}]


def test_chat_completion_has_openais_shape(client: OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=12, temperature=0)
    assert response.id.startswith("chatcmpl-")
    assert response.object == "chat.completion"
    assert response.model == MODEL
    assert response.system_fingerprint
    (choice,) = response.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    usage = response.usage
    assert usage is not None
    assert usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens is not None


def test_streamed_chat_equals_the_non_streamed_answer(client: OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, temperature=0)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])


def test_sse_wire_format_ends_with_done(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 4, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}
    assert len({p["id"] for p in payloads}) == 1


def test_stop_string_never_reaches_the_stream(client: OpenAI) -> None:
    prompt = "The days of the week are Monday, Tuesday, Wednesday,"
    free = client.completions.create(model=MODEL, prompt=prompt, max_tokens=24, temperature=0)
    text = free.choices[0].text
    assert len(text) > 12
    stop = text[5:9]  # four characters from inside the answer, likely spanning two tokens
    stream = client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=24, temperature=0, stop=[stop], stream=True
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == text[: text.index(stop)]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_completions_accept_token_ids_batches_and_n(client: OpenAI) -> None:
    response = client.completions.create(
        model=MODEL,
        prompt=[[2, 818, 5279, 529], [2, 2094]],
        max_tokens=3,
        n=2,
        temperature=0.8,
        seed=7,
        extra_body={"ignore_eos": True},
    )
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert all(c.finish_reason == "length" for c in response.choices)
    assert response.usage is not None
    assert response.usage.prompt_tokens == 4 + 2  # each prompt counts once, not once per choice
    assert response.usage.completion_tokens == 4 * 3


def test_completion_echo_prefixes_the_prompt(client: OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt="Roses are red,", max_tokens=4, temperature=0, echo=True)
    assert response.choices[0].text.startswith("Roses are red,")


def test_chat_n_returns_distinct_choices(client: OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, n=3, temperature=1.0, seed=11)
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert len({c.message.content for c in response.choices}) > 1


def test_models_are_listed_and_fetched(client: OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


def test_second_request_reports_cached_prompt_tokens(client: OpenAI) -> None:
    system = "You are a careful assistant. " * 30  # about 180 tokens: more than one 128-token chunk
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "First?"}]
    client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2)
    messages[1]["content"] = "Second?"
    again = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2)
    assert again.usage is not None and again.usage.prompt_tokens_details is not None
    cached = again.usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= 128 and cached % 128 == 0


def test_unknown_fields_are_accepted(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": HELLO, "max_tokens": 2, "some_vendor_field": {"x": 1}}
    assert http.post("/v1/chat/completions", json=body).status_code == 200


def test_client_disconnect_aborts_the_generation(http: httpx.Client) -> None:
    body = {"model": MODEL, "prompt": "Count:", "max_tokens": 400, "ignore_eos": True, "stream": True}
    with http.stream("POST", "/v1/completions", json=body) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(4)]
    assert all(line.startswith("data: ") or not line for line in received)
    # The server notices the closed connection; the request leaves the engine long before its 400 tokens.
    deadline = time.monotonic() + 10
    while (stats := engine_stats(http))["num_running"] and time.monotonic() < deadline:
        pass
    assert stats["num_running"] == 0
    assert stats["num_free_slots"] + stats["num_cached_slots"] == stats["num_total_slots"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "no-such-model", "messages": HELLO}, 404, "model"),
        ({"model": MODEL, "messages": HELLO, "temperature": 5}, 400, "temperature"),
        ({"model": MODEL, "messages": HELLO, "top_p": -1}, 400, "top_p"),
        ({"model": MODEL, "messages": HELLO, "max_tokens": 0}, 400, "max_tokens"),
        ({"model": MODEL, "messages": "not a list"}, 400, "messages"),
        ({"model": MODEL}, 400, "messages"),
        ({"messages": HELLO}, 400, "model"),
        ({"model": MODEL, "messages": HELLO, "top_logprobs": 2}, 400, "top_logprobs"),
        ({"model": MODEL, "messages": HELLO, "logprobs": True, "top_logprobs": 21}, 400, "top_logprobs"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "word " * 600}]}, 400, "messages"),
    ],
)
def test_bad_chat_input_gets_openais_error_shape(
    http: httpx.Client, body: dict[str, object], status: int, param: str
) -> None:
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["message"]


def test_context_overflow_has_its_own_code(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "word " * 600}]}
    assert http.post("/v1/chat/completions", json=body).json()["error"]["code"] == "context_length_exceeded"


def test_malformed_json_unknown_route_wrong_method_and_huge_body(http: httpx.Client) -> None:
    bad_json = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    missing = http.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = http.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    huge = http.post("/v1/completions", content=b"x" * (9 * 1024 * 1024), headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_any_integer_seed_is_accepted(client: OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, seed=-5, temperature=1.0)
    assert response.choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": MODEL, "prompt": 5}, 400, "prompt"),
        ({"model": MODEL, "prompt": []}, 400, "prompt"),
        ({"model": MODEL, "prompt": [[2, 10**9]]}, 400, "prompt"),
        ({"model": MODEL, "prompt": "word " * 600}, 400, "prompt"),
        ({"model": MODEL, "prompt": "x", "suffix": "y"}, 400, "suffix"),
        ({"model": MODEL, "prompt": "x", "n": 0}, 400, "n"),
        ({"model": MODEL, "prompt": "x", "logit_bias": {"not-a-token": 1}}, 400, "logit_bias"),
        ({"model": MODEL, "prompt": "x", "stop": [""]}, 400, "stop"),
        ({"model": "no-such-model", "prompt": "x"}, 404, "model"),
    ],
)
def test_bad_completion_input_gets_openais_error_shape(
    http: httpx.Client, body: dict[str, object], status: int, param: str
) -> None:
    response = http.post("/v1/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param


def test_unknown_model_detail_is_a_404(http: httpx.Client) -> None:
    response = http.get("/v1/models/org/no-such-model")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_chunked_body_over_the_limit_is_refused_with_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    response = http.post("/v1/completions", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
