"""A key restricted to some models gets 404 for every other model and deployment, on every route,
metadata included, exactly as if they did not exist."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import ALIAS, MODEL
from tests.live_server import AUTH, new_key

CHAT = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def only_short(server_url: str) -> dict[str, str]:
    """A key that may use the deployment 'short' only (its model through it, nothing else)."""
    with httpx.Client(base_url=server_url, headers=AUTH) as admin:
        return new_key(admin, allowed_models=["short"])


# (method, path, body, the error code of a 404 for it)
FORBIDDEN = [
    ("GET", f"/v1/models/{MODEL}", None, "model_not_found"),
    ("GET", f"/v1/models/{ALIAS}", None, "model_not_found"),
    ("GET", "/plain/v1/models", None, "deployment_not_found"),
    ("POST", "/v1/chat/completions", {"model": MODEL, "messages": CHAT, "max_tokens": 1}, "model_not_found"),
    ("POST", "/v1/completions", {"model": ALIAS, "prompt": "Hi", "max_tokens": 1}, "model_not_found"),
    ("POST", "/tokenize", {"model": MODEL, "prompt": "Hi"}, "model_not_found"),
    ("POST", "/plain/v1/chat/completions", {"messages": CHAT, "max_tokens": 1}, "deployment_not_found"),
    ("POST", "/plain/v1/completions", {"prompt": "Hi", "max_tokens": 1}, "deployment_not_found"),
    ("GET", f"/api/console/models/{MODEL}", None, "model_not_found"),
]


@pytest.mark.parametrize(("method", "path", "body", "code"), FORBIDDEN, ids=[f"{m} {p}" for m, p, _, _ in FORBIDDEN])
def test_a_model_or_deployment_the_key_may_not_use_is_404_as_if_unknown(
    server_url: str, only_short: dict[str, str], method: str, path: str, body: object, code: str
) -> None:
    response = httpx.request(method, f"{server_url}{path}", json=body, headers=only_short, timeout=60)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == code
    # The same answer as for a name that does not exist: nothing tells the two apart.
    unknown = path.replace(ALIAS, "no-such-model").replace(MODEL, "no-such-model").replace("/plain/", "/nope/")
    unknown_body = {**body, "model": "no-such-model"} if isinstance(body, dict) and "model" in body else body
    missing = httpx.request(method, f"{server_url}{unknown}", json=unknown_body, headers=only_short, timeout=60)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == code
    assert missing.json()["error"]["message"].replace("no-such-model", "X").replace("nope", "X") == error[
        "message"
    ].replace(ALIAS, "X").replace(MODEL, "X").replace("plain", "X")


def test_the_other_dialects_refuse_with_404_in_their_shape(server_url: str, only_short: dict[str, str]) -> None:
    portal = httpx.post(
        f"{server_url}/api/v1/ai/chat/completions", json={"model": MODEL, "messages": CHAT}, headers=only_short
    )
    assert portal.status_code == 404 and portal.json()["code"] == 404
    generate = httpx.post(
        f"{server_url}/api/generate", json={"prompt": "Hi", "request_id": "v", "model": MODEL}, headers=only_short
    )
    assert generate.status_code == 404 and generate.json()["code"] == "model_not_found"


def test_what_the_key_may_use_still_answers(server_url: str, only_short: dict[str, str]) -> None:
    listed = httpx.get(f"{server_url}/short/v1/models", headers=only_short)
    assert listed.status_code == 200 and listed.json()["data"][0]["id"] == MODEL
    chat = httpx.post(
        f"{server_url}/short/v1/chat/completions", json={"messages": CHAT}, headers=only_short, timeout=60
    )
    assert chat.status_code == 200, chat.text
    assert httpx.get(f"{server_url}/v1/models", headers=only_short).json()["data"] == []
