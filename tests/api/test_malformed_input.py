"""Every route of every dialect, fed malformed input: always a 4xx in that dialect's error shape, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.conftest import ALIAS, MODEL

CHAT = [{"role": "user", "content": "hi"}]
# Far past the live server's 512-token context.
LONG_TEXT = "the cat sat on the mat " * 400


def openai_shape(body: Any, status: int) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        set(body) == {"error"}
        and isinstance(error, dict)
        and set(error) == {"message", "type", "param", "code"}
        and isinstance(error["message"], str)
        and bool(error["message"])
        and isinstance(error["code"], str)
    )


def portal_shape(body: Any, status: int) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"code", "msg", "data"}
        and body["code"] == status
        and isinstance(body["msg"], str)
        and bool(body["msg"])
        and body["data"] is None
    )


def generate_shape(body: Any, status: int) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"detail", "code", "param"}
        and isinstance(body["detail"], str)
        and bool(body["detail"])
        and isinstance(body["code"], str)
    )


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    valid: dict[str, Any]
    shape: Callable[[Any, int], bool]
    # Where the prompt text goes, for the oversized-prompt case (None: the route has no prompt).
    with_long_prompt: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    has_model: bool = True
    headers: dict[str, str] = field(default_factory=dict)


def _long_chat(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "messages": [{"role": "user", "content": LONG_TEXT}]}


def _long_prompt(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "prompt": LONG_TEXT}


def _long_batch(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "prompts": [{"request_id": "long", "prompt": LONG_TEXT}]}


ROUTES = [
    Route(
        "openai chat",
        "/v1/chat/completions",
        {"model": MODEL, "messages": CHAT, "max_tokens": 2},
        openai_shape,
        _long_chat,
    ),
    Route(
        "openai completions",
        "/v1/completions",
        {"model": MODEL, "prompt": "hi", "max_tokens": 2},
        openai_shape,
        _long_prompt,
    ),
    Route("tokenize", "/tokenize", {"model": MODEL, "prompt": "hi"}, openai_shape),
    Route("detokenize", "/detokenize", {"model": MODEL, "tokens": [2, 3]}, openai_shape),
    Route(
        "deployment chat",
        "/plain/v1/chat/completions",
        {"model": ALIAS, "messages": CHAT, "max_tokens": 2},
        openai_shape,
        _long_chat,
    ),
    Route(
        "deployment completions",
        "/short/v1/completions",
        {"model": ALIAS, "prompt": "hi", "max_tokens": 2},
        openai_shape,
        _long_prompt,
    ),
    Route(
        "portal chat",
        "/api/v1/ai/chat/completions",
        {"model": MODEL, "messages": CHAT, "maxTokens": 2},
        portal_shape,
        _long_chat,
    ),
    Route(
        "portal chat from an OpenAI SDK",
        "/api/v1/ai/chat/completions",
        {"model": MODEL, "messages": CHAT, "max_tokens": 2},
        openai_shape,
        _long_chat,
        headers={"X-Stainless-Lang": "python"},
    ),
    Route(
        "generate",
        "/api/generate",
        {"request_id": "walk", "prompt": "hi", "stream_response": False, "generation_config": {"max_new_tokens": 2}},
        generate_shape,
        _long_prompt,
    ),
    Route(
        "generate-batch",
        "/api/generate-batch",
        {"prompts": [{"request_id": "walk-b", "prompt": "hi"}], "generation_config": {"max_new_tokens": 2}},
        generate_shape,
        _long_batch,
    ),
]


def _wrong_type(value: Any) -> Any:
    """A value of another JSON type than value's, that no field of these routes accepts in its place."""
    if isinstance(value, bool):
        return [1]
    if isinstance(value, int | float):
        return "not a number"
    if isinstance(value, str):
        return {"not": "a string"}
    if isinstance(value, list):
        return 17
    return "not an object"


def _cases(route: Route) -> list[tuple[str, bytes | dict[str, Any] | list[Any], int]]:
    """(what, body, expected status) for one route."""
    cases: list[tuple[str, bytes | dict[str, Any] | list[Any], int]] = [
        ("not JSON", b"{not json", 400),
        ("a JSON array", [], 400),
        ("an empty object", {}, 400),
    ]
    for key, value in route.valid.items():
        cases.append((f"{key} missing", {k: v for k, v in route.valid.items() if k != key}, 400))
        cases.append((f"{key} of the wrong type", {**route.valid, key: _wrong_type(value)}, 400))
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                wrong = {**route.valid, key: {**value, inner: _wrong_type(inner_value)}}
                cases.append((f"{key}.{inner} of the wrong type", wrong, 400))
    if route.has_model:
        cases.append(("an unknown model", {**route.valid, "model": "no-such/model"}, 404))
    if route.with_long_prompt is not None:
        cases.append(("a prompt longer than the context", route.with_long_prompt(route.valid), 400))
    return cases


def _optional_fields(route: Route) -> set[str]:
    """Fields of the valid bodies that may be left out (their absence is not an error)."""
    return {"max_tokens", "maxTokens", "stream_response", "generation_config", "model"} & set(route.valid)


WALK = [
    pytest.param(route, what, body, status, id=f"{route.name}: {what}")
    for route in ROUTES
    for what, body, status in _cases(route)
    if not (what.endswith(" missing") and what.removesuffix(" missing") in _optional_fields(route))
]


@pytest.mark.parametrize(("route", "what", "body", "status"), WALK)
def test_malformed_input_gets_a_4xx_in_the_dialects_shape(
    http: httpx.Client, route: Route, what: str, body: bytes | dict[str, Any] | list[Any], status: int
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **route.headers}
    response = http.post(route.path, content=raw, headers=headers)
    assert response.status_code == status, response.text
    assert route.shape(response.json(), response.status_code), response.text


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_an_oversized_body_is_a_413_in_the_dialects_shape(http: httpx.Client, route: Route) -> None:
    raw = b'{"padding": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    response = http.post(route.path, content=raw, headers={"Content-Type": "application/json", **route.headers})
    assert response.status_code == 413
    assert route.shape(response.json(), 413), response.text


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_the_valid_body_of_each_route_is_accepted(http: httpx.Client, route: Route) -> None:
    """So each malformed case above differs from an accepted request by the one thing it breaks."""
    response = http.post(route.path, json=route.valid, headers=route.headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/models/no-such/model", openai_shape),
        ("/nope/v1/chat/completions", openai_shape),
        ("/api/v1/ai/nothing-here", portal_shape),
        ("/api/generate/nothing-here", generate_shape),
        ("/no/such/route", openai_shape),
    ],
)
def test_unknown_things_are_404_in_the_dialects_shape(
    http: httpx.Client, path: str, shape: Callable[[Any, int], bool]
) -> None:
    method = "GET" if path.startswith("/v1/models") else "POST"
    response = http.request(method, path, json={"model": MODEL, "messages": CHAT})
    assert response.status_code == 404
    assert shape(response.json(), 404), response.text


# Bodies FastAPI cannot even parse: bytes that are not UTF-8, and JSON nested deeper than the parser goes.
UNPARSABLE = [
    pytest.param(b'{"model": "\xff\xfe"}', id="invalid UTF-8"),
    pytest.param(b"[" * 1000 + b"]" * 1000, id="1000-deep JSON"),
    pytest.param(b'{"a": ' * 1000 + b"1" + b"}" * 1000, id="1000-deep JSON object"),
]


@pytest.mark.parametrize("raw", UNPARSABLE)
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_body_that_does_not_parse_is_an_invalid_request_400_in_the_dialects_shape(
    http: httpx.Client, route: Route, raw: bytes
) -> None:
    response = http.post(route.path, content=raw, headers={"Content-Type": "application/json", **route.headers})
    assert response.status_code == 400, response.text
    body = response.json()
    assert route.shape(body, 400), response.text
    if "error" in body:  # OpenAI's shape: the client's error, not the server's
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "invalid_request"
    elif "detail" in body:
        assert body["code"] == "invalid_request"
