"""Database keys on an app built but not started (no model): auth runs before any handler, so
every status of the key checks (401, 403, 429) shows in each dialect's error shape; and the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from openmaas.app import create_app
from openmaas.control.plane import ControlPlane
from openmaas.settings import Settings
from tests.control.usage_entries import usage_entry

ADMIN = "om-admin-key-for-these-tests-0123"
HELLO = [{"role": "user", "content": "Hi"}]
# One inference route of each dialect (and the deployments' and tokenizer routes, OpenAI-shaped).
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/v1/chat/completions", {"model": "m", "messages": HELLO, "max_tokens": 1}, "openai"),
    ("GET", "/v1/models", None, "openai"),
    ("POST", "/tokenize", {"model": "m", "prompt": "Hi"}, "openai"),
    ("POST", "/dep/v1/chat/completions", {"messages": HELLO}, "openai"),
    ("POST", "/api/v1/ai/chat/completions", {"model": "m", "messages": HELLO}, "portal"),
    ("POST", "/api/generate", {"prompt": "Hi"}, "generate"),
    ("POST", "/api/generate-batch", {"prompts": ["Hi"]}, "generate"),
]


def assert_shape(response: Any, status: int, dialect: str, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    if dialect == "openai":
        assert set(body) == {"error"} and body["error"]["code"] == code
    elif dialect == "portal":
        assert list(body) == ["code", "msg", "data"] and body["code"] == status and body["data"] is None
    else:
        assert body["code"] == code and isinstance(body["detail"], str)
    assert ADMIN not in response.text


@pytest.fixture()
def app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    """On SQLite, and on PostgreSQL when the tests have one."""
    application = create_app(Settings(home=tmp_path, api_key=SecretStr(ADMIN), database_url=database_url))
    control: ControlPlane = application.state.control_plane
    control.start()  # what the lifespan does first (the lifespan itself would load the model)
    yield application
    control.close()


@pytest.fixture()
def api(app: FastAPI) -> TestClient:
    # Past auth, handlers fail without a model (404 or 500): only the key checks matter here.
    return TestClient(app, raise_server_exceptions=False)


def create_key(api: TestClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/admin/keys", json=fields, headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_key_lifecycle_through_the_admin_api(api: TestClient) -> None:
    created = create_key(api, name="ci", max_requests_per_minute=5, allowed_models=["m"])
    secret = created["key"]
    assert secret.startswith(created["prefix"]) and created["object"] == "api_key"
    listed = api.get("/api/admin/keys", headers=bearer(ADMIN)).json()
    assert listed["count"] == 1 and "key" not in listed["data"][0]
    assert secret not in str(listed)
    assert api.get("/v1/models", headers=bearer(secret)).status_code != 401
    revoked = api.delete(f"/api/admin/keys/{created['id']}", headers=bearer(ADMIN)).json()
    assert revoked["revoked_at"] is not None
    assert api.get("/v1/models", headers=bearer(secret)).status_code == 403
    assert api.delete("/api/admin/keys/key_nope", headers=bearer(ADMIN)).status_code == 404


@pytest.mark.parametrize(("method", "path", "body", "dialect"), ROUTES)
def test_missing_and_wrong_keys_are_401(api: TestClient, method: str, path: str, body: Any, dialect: str) -> None:
    assert_shape(api.request(method, path, json=body), 401, dialect, "invalid_api_key")
    assert_shape(api.request(method, path, json=body, headers=bearer("om-wrong")), 401, dialect, "invalid_api_key")


@pytest.mark.parametrize(("method", "path", "body", "dialect"), ROUTES)
def test_revoked_and_expired_keys_are_403(api: TestClient, method: str, path: str, body: Any, dialect: str) -> None:
    revoked = create_key(api)
    api.post(f"/api/admin/keys/{revoked['id']}/revoke", headers=bearer(ADMIN))
    expired = create_key(api, expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    for secret in (revoked["key"], expired["key"]):
        response = api.request(method, path, json=body, headers=bearer(secret))
        assert_shape(response, 403, dialect, "permission_denied")


@pytest.mark.parametrize(("method", "path", "body", "dialect"), ROUTES)
def test_an_rpm_3_key_gets_429_with_retry_after_on_its_fourth_request(
    api: TestClient, method: str, path: str, body: Any, dialect: str
) -> None:
    secret = create_key(api, max_requests_per_minute=3)["key"]
    for _ in range(3):
        assert api.request(method, path, json=body, headers=bearer(secret)).status_code != 429
    response = api.request(method, path, json=body, headers=bearer(secret))
    assert_shape(response, 429, dialect, "rate_limit_exceeded")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_a_spent_budget_is_429_until_the_period_ends(app: FastAPI, api: TestClient) -> None:
    secret = create_key(api, max_budget_tokens=0, budget_period="day")["key"]
    response = api.get("/v1/models", headers=bearer(secret))
    assert_shape(response, 429, "openai", "rate_limit_exceeded")
    assert int(response.headers["Retry-After"]) <= 86_400


def test_keys_show_when_they_were_last_used(app: FastAPI, api: TestClient) -> None:
    used, unused = create_key(api, name="used"), create_key(api, name="unused")
    assert used["last_used_at"] is None
    control: ControlPlane = app.state.control_plane
    latest = datetime(2026, 11, 23, 19, 5, tzinfo=UTC)
    # Submitted, not flushed: the routes flush the writer first, so a call that just ended counts.
    for moment in (latest - timedelta(hours=3), latest, latest - timedelta(days=1)):
        control.writer.submit(usage_entry(f"req-{moment.timestamp()}", key_id=used["id"], created_at=moment))
    listed = {key["id"]: key for key in api.get("/api/admin/keys", headers=bearer(ADMIN)).json()["data"]}
    assert datetime.fromisoformat(listed[used["id"]]["last_used_at"]) == latest
    assert listed[unused["id"]]["last_used_at"] is None
    one = api.get(f"/api/admin/keys/{used['id']}", headers=bearer(ADMIN)).json()
    assert datetime.fromisoformat(one["last_used_at"]) == latest
    assert api.get(f"/api/admin/keys/{unused['id']}", headers=bearer(ADMIN)).json()["last_used_at"] is None


def test_admin_routes_need_an_admin_key(api: TestClient) -> None:
    inference = create_key(api)["key"]
    admin = create_key(api, is_admin=True)["key"]
    for path in ("/api/admin/keys", "/api/admin/usage", "/api/admin/status"):
        assert api.get(path).status_code == 401
        assert_shape(api.get(path, headers=bearer(inference)), 403, "openai", "permission_denied")
    assert api.get("/api/admin/keys", headers=bearer(admin)).status_code == 200
    assert api.get("/api/admin/usage?group_by=model,key,day", headers=bearer(admin)).json()["data"] == []


def test_auth_off_is_refused_off_loopback(tmp_path: Path) -> None:
    Settings(home=tmp_path, auth_disabled=True)
    with pytest.raises(ValueError, match="non-loopback"):
        Settings(home=tmp_path, auth_disabled=True, host="0.0.0.0")
