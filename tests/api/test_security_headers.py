"""Every answer carries X-Content-Type-Options: nosniff: JSON, errors, streams, pages and static files."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import MODEL


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/health", None),
        ("GET", "/v1/models", None),
        ("GET", "/openapi.json", None),
        ("GET", "/no/such/route", None),  # an error
        ("POST", "/v1/chat/completions", {"model": MODEL, "messages": "not a list"}),  # a validation error
        ("POST", "/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 1, "stream": True}),  # SSE
        ("GET", "/", None),  # a console page
        ("GET", "/static/console.css", None),  # a static file
    ],
)
def test_every_answer_says_nosniff(http: httpx.Client, method: str, path: str, body: object) -> None:
    response = http.request(method, path, json=body)
    assert response.headers["X-Content-Type-Options"] == "nosniff", (response.status_code, path)


def test_a_413_from_the_body_limit_says_nosniff_too(http: httpx.Client) -> None:
    response = http.post(
        "/v1/completions", content=b"x" * (9 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["X-Content-Type-Options"] == "nosniff"
