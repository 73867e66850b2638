"""The console's JSON API over HTTP: who the key is, the models it may use, its own conversations."""

from __future__ import annotations

import httpx

from tests.live_server import ALIAS, MODEL, new_key


def test_me_names_the_key_and_refuses_a_wrong_one(http: httpx.Client, server_url: str) -> None:
    admin = http.get("/api/console/me").json()
    assert admin["is_admin"] is True and admin["auth_disabled"] is False
    headers = new_key(http)
    mine = httpx.get(f"{server_url}/api/console/me", headers=headers).json()
    assert mine["is_admin"] is False and headers["Authorization"].removeprefix("Bearer ").startswith(mine["key_prefix"])
    refused = httpx.get(f"{server_url}/api/console/me", headers={"Authorization": "Bearer om-wrong"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_model_cards_follow_the_rule_inference_applies(http: httpx.Client, server_url: str) -> None:
    cards = http.get("/api/console/models").json()["data"]
    card = next(card for card in cards if card["id"] == MODEL)
    assert card["quantization"] == "Q4_K_M" and card["context_length"] == 512 and ALIAS in card["aliases"]
    assert http.get(f"/api/console/models/{ALIAS}").json()["id"] == MODEL
    # A key allowed the model by an alias sees it, and may call it (by its id or the alias).
    by_alias = new_key(http, allowed_models=[ALIAS])
    assert [c["id"] for c in httpx.get(f"{server_url}/api/console/models", headers=by_alias).json()["data"]] == [MODEL]
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    assert httpx.post(f"{server_url}/v1/chat/completions", json=chat, headers=by_alias, timeout=60).status_code == 200
    # A key allowed only a deployment: not listed, as /v1 refuses it the model; the deployment serves it.
    by_deployment = new_key(http, allowed_models=["plain"])
    listed = httpx.get(f"{server_url}/api/console/models", headers=by_deployment).json()["data"]
    assert listed == []
    assert httpx.get(f"{server_url}/v1/models", headers=by_deployment).json()["data"] == []
    missing = httpx.get(f"{server_url}/api/console/models/{MODEL}", headers=by_deployment)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    refused = httpx.post(f"{server_url}/v1/chat/completions", json=chat, headers=by_deployment, timeout=60)
    assert refused.status_code == 404
    through = httpx.post(f"{server_url}/plain/v1/chat/completions", json=chat, headers=by_deployment, timeout=60)
    assert through.status_code == 200


def test_conversations_are_the_keys_own(http: httpx.Client, server_url: str) -> None:
    alice, bob = new_key(http), new_key(http)
    messages = [{"role": "user", "content": "Hi"}]
    body = {"title": "Plans", "model": MODEL, "settings": {"temperature": 0.2}, "messages": messages}
    created = httpx.post(f"{server_url}/api/console/conversations", json=body, headers=alice)
    assert created.status_code == 201, created.text
    conversation = created.json()
    url = f"{server_url}/api/console/conversations/{conversation['id']}"
    assert httpx.get(url, headers=alice).json()["messages"] == body["messages"]
    listed = httpx.get(f"{server_url}/api/console/conversations", headers=alice).json()
    assert [item["id"] for item in listed["data"]] == [conversation["id"]] and "messages" not in listed["data"][0]
    # Another key: as if it did not exist, for every verb.
    assert httpx.get(f"{server_url}/api/console/conversations", headers=bob).json()["data"] == []
    for method in ("GET", "PUT", "DELETE"):
        answer = httpx.request(method, url, json=body if method == "PUT" else None, headers=bob)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", method
    replaced = httpx.put(url, json={**body, "title": "Plans, v2"}, headers=alice)
    assert replaced.status_code == 200 and replaced.json()["title"] == "Plans, v2"
    assert httpx.delete(url, headers=alice).status_code == 204
    assert httpx.get(url, headers=alice).status_code == 404


def test_bad_conversations_are_a_400(http: httpx.Client) -> None:
    for body, param in (
        ({"messages": "not a list"}, "messages"),
        ({"messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}, "messages"),
        ({"model": "m\u0000"}, "model"),
    ):
        answer = http.post("/api/console/conversations", json=body)
        assert answer.status_code in (400, 413), answer.text
        if answer.status_code == 400:
            assert answer.json()["error"]["param"] == param
