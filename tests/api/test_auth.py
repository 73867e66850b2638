"""The bootstrap admin key (OPENMAAS_API_KEY), on a server of this module's own that has one.

Database keys, their limits and every dialect's error shape: tests/api/test_keys.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from pydantic import SecretStr
from starlette.datastructures import Headers

from openmaas.api.auth import Authenticator
from openmaas.app import create_app
from openmaas.errors import Unauthorized
from openmaas.settings import Settings
from tests.api.conftest import MODEL
from tests.live_server import live_server

KEY = "om-test-key-0123456789"
HELLO = [{"role": "user", "content": "Hello"}]
# Every inference route with a body that would succeed once authorized.
PROTECTED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": HELLO, "max_tokens": 1}),
    ("POST", "/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 1}),
    ("GET", "/v1/models", None),
    ("GET", f"/v1/models/{MODEL}", None),
    ("POST", "/tokenize", {"model": MODEL, "prompt": "Hi"}),
    ("POST", "/detokenize", {"model": MODEL, "tokens": [2]}),
    ("POST", "/dep/v1/chat/completions", {"model": MODEL, "messages": HELLO, "max_tokens": 1}),
    ("POST", "/dep/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 1}),
    ("GET", "/dep/v1/models", None),
]
# Routes that stay open: liveness, readiness, metrics, the API schema, the console's pages and their files
# (pages carry no data; what they show comes from key-checked routes). /api/admin/* needs an admin key.
OPEN_PATHS = {"/health", "/ready", "/metrics", "/openapi.json", "/", "/playground", "/keys", "/usage"}


@pytest.fixture(scope="module")
def keyed_url(openmaas_home: Path, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    file = tmp_path_factory.mktemp("auth") / "deployments.toml"
    file.write_text(f'[deployments.dep]\nmodel = "{MODEL}"\n')
    env = {"OPENMAAS_API_KEY": KEY, "OPENMAAS_DEPLOYMENTS_FILE": str(file)}
    with live_server(openmaas_home, env) as url:
        yield url


@pytest.fixture()
def api(keyed_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_url, timeout=60.0) as http_client:
        yield http_client


def call(api: httpx.Client, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> httpx.Response:
    return api.request(method, path, json=body, headers=headers)


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert set(response.json()) == {"error"}
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "authentication_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert KEY not in response.text


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_no_key_is_401_in_openais_shape(api: httpx.Client, method: str, path: str, body: dict[str, Any] | None) -> None:
    assert_unauthorized(call(api, method, path, body))


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_a_wrong_key_is_401(api: httpx.Client, method: str, path: str, body: dict[str, Any] | None) -> None:
    assert_unauthorized(call(api, method, path, body, Authorization=f"Bearer {KEY}x"))
    assert_unauthorized(call(api, method, path, body, Authorization=f"Bearer {KEY[:-1]}"))
    assert_unauthorized(call(api, method, path, body, Authorization=KEY))  # no scheme
    assert_unauthorized(call(api, method, path, body, Authorisation=f"Bearer {KEY}"))  # no other spelling


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("header", ["Authorization", "Autherization"])
def test_the_key_in_either_header_spelling_is_accepted(
    api: httpx.Client, method: str, path: str, body: dict[str, Any] | None, header: str
) -> None:
    response = call(api, method, path, body, **{header: f"Bearer {KEY}"})
    assert response.status_code == 200, response.text


def test_the_scheme_is_case_insensitive_and_one_right_header_is_enough(api: httpx.Client) -> None:
    method, path, body = PROTECTED[0]
    assert call(api, method, path, body, Authorization=f"bearer  {KEY}").status_code == 200
    mixed = call(api, method, path, body, Authorization="Bearer wrong", Autherization=f"Bearer {KEY}")
    assert mixed.status_code == 200


def test_an_unknown_deployment_without_a_key_is_401_not_404(api: httpx.Client) -> None:
    assert_unauthorized(api.post("/nope/v1/chat/completions", json={}))
    assert api.post("/nope/v1/chat/completions", json={}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 404


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_health_and_metrics_stay_open(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 200


def test_the_bootstrap_key_is_an_admin_key(api: httpx.Client) -> None:
    assert api.get("/api/admin/status").status_code == 401
    assert api.get("/api/admin/status", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_the_openai_sdk_works_with_the_key(keyed_url: str) -> None:
    with OpenAI(base_url=f"{keyed_url}/v1", api_key=KEY, max_retries=0) as client:
        assert [m.id for m in client.models.list().data] == [MODEL]
        response = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)  # type: ignore[arg-type]
        assert response.usage is not None and response.usage.completion_tokens <= 2
    with OpenAI(base_url=f"{keyed_url}/dep/v1", api_key=KEY, max_retries=0) as client:
        assert client.completions.create(model=MODEL, prompt="Hi", max_tokens=1).choices
    with OpenAI(base_url=f"{keyed_url}/v1", api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.models.list()
        assert caught.value.code == "invalid_api_key"


def test_with_auth_disabled_every_request_passes() -> None:
    assert asyncio.run(Authenticator(None, None, is_disabled=True).authenticate(Headers({}))) is None


def test_keys_are_compared_as_bytes() -> None:
    keyed = Authenticator(None, None, bootstrap_key="clé-Ω")
    with pytest.raises(Unauthorized):
        asyncio.run(keyed.authenticate(Headers({"authorization": "Bearer CLÉ-Ω".encode().decode("latin-1")})))
    # Header values arrive decoded as Latin-1: a key that is not ASCII travels as its UTF-8 bytes.
    caller = asyncio.run(keyed.authenticate(Headers({"authorization": "Bearer clé-Ω".encode().decode("latin-1")})))
    assert caller is not None and caller.is_admin


def test_every_route_but_the_open_ones_requires_the_key(tmp_path: Path) -> None:
    # Every route in the schema, on an app built but not started (no model): a router added
    # later without the key dependency fails here. The key is checked before the body.
    app = create_app(Settings(home=tmp_path, api_key=SecretStr(KEY)))
    client = TestClient(app)
    answers = {
        (method, path): client.request(method, re.sub(r"\{[^}]+\}", "x", path), json={}).status_code
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    refused = {route for route, status in answers.items() if status == 401}
    assert set(answers) - refused == {("get", path) for path in OPEN_PATHS if path in app.openapi()["paths"]}
    assert {("post", "/v1/chat/completions"), ("post", "/{deployment}/v1/completions")} <= refused
    # No page that loads scripts from elsewhere runs on the console's origin.
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
