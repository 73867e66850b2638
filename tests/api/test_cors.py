"""CORS on the live server, which allows one origin (tests/conftest.py): preflights and answers on every dialect."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from openmaas.api.cors import ApiCors

OTHER_ORIGIN = "http://evil.example:8080"
# One route of each dialect and kind: OpenAI, tokenizer, deployment, portal, generate, admin, console data.
API_ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("POST", "/tokenize"),
    ("POST", "/short/v1/chat/completions"),
    ("POST", "/api/v1/ai/chat/completions"),
    ("POST", "/api/generate"),
    ("GET", "/api/admin/keys"),
    ("GET", "/api/console/me"),
]
PREFLIGHT_HEADERS = "authorization, content-type"


def _preflight(server_url: str, method: str, path: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{server_url}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": PREFLIGHT_HEADERS,
        },
    )


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_preflights_from_the_allowed_origin_are_answered(
    server_url: str, cors_origin: str, method: str, path: str
) -> None:
    response = _preflight(server_url, method, path, cors_origin)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == cors_origin
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert set(PREFLIGHT_HEADERS.split(", ")) <= set(
        response.headers["Access-Control-Allow-Headers"].lower().split(", ")
    )
    # A listed origin may send credentials; the answer varies by origin, so caches keep them apart.
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(("method", "path"), API_ROUTES[:3])
def test_other_origins_get_no_cors_headers(server_url: str, method: str, path: str) -> None:
    response = _preflight(server_url, method, path, OTHER_ORIGIN)
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers


def test_answers_and_errors_carry_the_headers_for_the_allowed_origin(
    server_url: str, cors_origin: str, http: httpx.Client
) -> None:
    answer = http.get("/v1/models", headers={"Origin": cors_origin})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == cors_origin
    # The page can read the request id and a 429's Retry-After.
    assert {"x-request-id", "retry-after"} <= set(answer.headers["Access-Control-Expose-Headers"].lower().split(", "))
    # An error is readable too (a browser app shows its message), here a 401 before any route runs.
    refused = httpx.post(f"{server_url}/v1/chat/completions", json={}, headers={"Origin": cors_origin})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == cors_origin
    other = http.get("/v1/models", headers={"Origin": OTHER_ORIGIN})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("path", ["/", "/playground", "/models/gemma-3-270m", "/static/console.css"])
def test_the_consoles_pages_stay_same_origin(server_url: str, cors_origin: str, path: str) -> None:
    page = httpx.get(f"{server_url}{path}", headers={"Origin": cors_origin})
    assert "Access-Control-Allow-Origin" not in page.headers
    preflight = _preflight(server_url, "GET", path, cors_origin)
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_any_origin_never_allows_credentials() -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = ApiCors(Starlette(routes=[Route("/v1/x", hello)]), ["*"], lambda path: False)
    with TestClient(app) as client:
        preflight = client.options(
            "/v1/x",
            headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST", "Cookie": "a=b"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in preflight.headers
        answer = client.get("/v1/x", headers={"Origin": OTHER_ORIGIN})
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in answer.headers
