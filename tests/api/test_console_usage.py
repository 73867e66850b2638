"""/api/console/usage and /api/console/usage.csv on the live server: series over whole periods, scoped per key."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.live_server import MODEL, new_key

CHAT = [{"role": "user", "content": "Say hi."}]
SERIES_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "tokens", "cost")
TOTAL_FIELDS = ("num_requests", "num_prompt_tokens", "num_cached_tokens", "num_completion_tokens", "cost")


def _chat(client: httpx.Client) -> str:
    """One short call; its request id, as the server named it."""
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": CHAT, "max_tokens": 4})
    assert response.status_code == 200, response.text
    return response.headers["X-Request-Id"]


@pytest.fixture()
def admin_calls(http: httpx.Client) -> list[str]:
    return [_chat(http), _chat(http)]


@pytest.fixture()
def inference_key(http: httpx.Client, server_url: str) -> dict[str, Any]:
    """A new inference key, with one call of its own: its headers, id, prefix and that call's request id."""
    response = http.post("/api/admin/keys", json={"name": "console-usage-test"})
    assert response.status_code == 201, response.text
    key = response.json()
    auth = {"Authorization": f"Bearer {key['key']}"}
    with httpx.Client(base_url=server_url, headers=auth, timeout=60) as caller:
        request_id = _chat(caller)
    return {"auth": auth, "id": key["id"], "prefix": key["prefix"], "request_id": request_id}


def _series(http: httpx.Client, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    response = http.get("/api/console/usage", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("period", "bucket", "count", "step"),
    [("24h", "hour", 24, timedelta(hours=1)), ("7d", "day", 7, timedelta(days=1))],
)
def test_the_series_cover_every_bucket_and_count_the_calls(
    http: httpx.Client, admin_calls: list[str], period: str, bucket: str, count: int, step: timedelta
) -> None:
    body = _series(http, period=period)
    assert body["object"] == "usage_series"
    assert (body["period"], body["bucket"], body["group_by"]) == (period, bucket, "model")
    # Every bucket, in order, one step apart, the last holding now.
    buckets = [datetime.fromisoformat(name).replace(tzinfo=UTC) for name in body["buckets"]]
    assert len(buckets) == count
    assert all(later - earlier == step for earlier, later in zip(buckets, buckets[1:], strict=False))
    assert buckets[0] == datetime.fromisoformat(body["start"])
    assert buckets[-1] <= datetime.now(UTC) < buckets[-1] + step == datetime.fromisoformat(body["end"])
    if bucket == "day":
        assert body["buckets"][-1] == datetime.now(UTC).date().isoformat()
    for line in body["series"]:
        assert all(len(line[field]) == count for field in SERIES_FIELDS)
        assert [p + c for p, c in zip(line["prompt_tokens"], line["completion_tokens"], strict=True)] == line["tokens"]

    model = next(line for line in body["series"] if line["name"] == MODEL)
    assert model["label"] == MODEL
    assert sum(model["requests"]) >= len(admin_calls)
    assert sum(model["completion_tokens"]) >= len(admin_calls)
    totals = {row["name"]: row for row in body["totals"]}
    assert totals[MODEL]["num_requests"] == sum(model["requests"])
    assert totals[MODEL]["num_prompt_tokens"] == sum(model["prompt_tokens"])
    # The grand total is the sum of the groups'.
    for field in TOTAL_FIELDS:
        assert body["total"][field] == pytest.approx(sum(row[field] for row in body["totals"]))
    assert body["total"]["num_requests"] >= len(admin_calls)


def test_the_calls_just_made_are_counted_at_once(http: httpx.Client, server_url: str) -> None:
    """Read-your-writes: the usage writer is flushed before the summary is read (a fresh key: only its calls)."""
    with httpx.Client(base_url=server_url, headers=new_key(http), timeout=60) as mine:
        _chat(mine)
        assert _series(mine, period="24h")["total"]["num_requests"] == 1
        _chat(mine)
        assert _series(mine, period="24h")["total"]["num_requests"] == 2


def test_grouped_by_key_the_labels_name_the_keys(
    http: httpx.Client, admin_calls: list[str], inference_key: dict[str, Any]
) -> None:
    body = _series(http, period="24h", group_by="key")
    assert body["group_by"] == "key"
    labels = {line["name"]: line["label"] for line in body["series"]}
    assert labels["env"] == "OPENMAAS_API_KEY"
    assert labels[inference_key["id"]] == f"console-usage-test ({inference_key['prefix']}…)"
    mine = next(row for row in body["totals"] if row["name"] == inference_key["id"])
    assert mine["num_requests"] == 1


def test_an_inference_key_sees_only_its_own_calls(
    http: httpx.Client, admin_calls: list[str], inference_key: dict[str, Any]
) -> None:
    auth = inference_key["auth"]
    for group_by in ("model", "key"):
        body = _series(http, auth, period="7d", group_by=group_by)
        assert body["total"]["num_requests"] == 1
        assert len(body["series"]) == 1
        assert sum(body["series"][0]["requests"]) == 1
    assert body["series"][0]["name"] == inference_key["id"]
    assert body["series"][0]["label"].startswith("console-usage-test (")

    response = http.get("/api/console/usage.csv", params={"period": "24h"}, headers=auth)
    assert response.status_code == 200, response.text
    ids = [row["request_id"] for row in csv.DictReader(io.StringIO(response.text))]
    assert ids == [inference_key["request_id"]]


def test_the_csv_lists_every_call_oldest_first(
    http: httpx.Client, admin_calls: list[str], inference_key: dict[str, Any]
) -> None:
    response = http.get("/api/console/usage.csv", params={"period": "24h"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="openmaas-usage-24h.csv"'
    lines = response.text.splitlines()
    assert lines[0] == (
        "created_at,request_id,key_prefix,model,deployment,dialect,status,finish_reason,"
        "prompt_tokens,cached_tokens,completion_tokens,time_to_first_token,duration,cost"
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {row["request_id"]: row for row in rows}
    for request_id in admin_calls:
        row = by_id[request_id]
        assert row["model"] == MODEL and row["dialect"] == "openai" and row["status"] == "ok"
        assert int(row["completion_tokens"]) >= 1
    times = [datetime.fromisoformat(row["created_at"]) for row in rows]
    assert times == sorted(times)
    # The same calls as the chart counts (a fresh key's: no other call can land between the two reads).
    auth = inference_key["auth"]
    own = list(csv.DictReader(io.StringIO(http.get("/api/console/usage.csv", headers=auth).text)))
    assert [row["request_id"] for row in own] == [inference_key["request_id"]]
    assert len(own) == _series(http, headers=auth, period="24h")["total"]["num_requests"]


def test_a_client_request_id_cannot_become_a_spreadsheet_formula(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 2}
    sent = http.post("/v1/chat/completions", json=body, headers={"X-Request-Id": "-A1"})
    assert sent.headers["X-Request-Id"] == "-A1"
    rows = list(csv.DictReader(io.StringIO(http.get("/api/console/usage.csv", params={"period": "24h"}).text)))
    assert "'-A1" in {row["request_id"] for row in rows}


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/console/usage", {"period": "1y"}, "period"),
        ("/api/console/usage", {"group_by": "day"}, "group_by"),
        ("/api/console/usage.csv", {"period": "week"}, "period"),
    ],
)
def test_bad_parameters_are_a_400_in_openai_shape(
    http: httpx.Client, path: str, params: dict[str, str], param: str
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request"
    assert error["param"] == param
    assert param in error["message"]


def test_no_key_is_a_401(server_url: str) -> None:
    for path in ("/api/console/usage", "/api/console/usage.csv"):
        response = httpx.get(server_url + path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
