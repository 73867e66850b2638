"""The catalog and the serverless lifecycle through a server of its own: models added and removed
without a restart, deployments in the catalog, keep_alive, a cap of one loaded model, 503 when busy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import AUTH, live_server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("catalog-home")
    # A local "Hugging Face repository": a directory holding the GGUF file.
    repo = home / "repo"
    repo.mkdir()
    shutil.copyfile(model_path, repo / "model.gguf")
    env = {"OPENMAAS_MAX_LOADED_MODELS": "1", "OPENMAAS_MAX_MODEL_LEN": "128", "OPENMAAS_NUM_CACHE_SLOTS": "2"}
    with live_server(home, env) as url, httpx.Client(base_url=url, timeout=60.0, headers=AUTH) as client:
        client.headers["X-Test-Repo"] = str(repo)
        yield client


def complete(api: httpx.Client, model: str, **extra: object) -> httpx.Response:
    return api.post("/v1/completions", json={"model": model, "prompt": "Hi", "max_tokens": 2, **extra})


def loads(api: httpx.Client, model: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(f'openmaas_model_loads_total{{model="{model}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_models_added_and_removed_without_a_restart(api: httpx.Client, model_path: Path) -> None:
    repo = api.headers["X-Test-Repo"]
    added = api.post(
        "/api/admin/models",
        json={
            "id": "hf-gemma",
            "source_kind": "huggingface",
            "source": f"file://{repo}",
            "file": "model.gguf",
            "display_name": "Gemma from a repo",
            "aliases": ["org/hf-gemma"],
            "quantization": "Q4_K_M",
            "parameter_count": 270_000_000,
            "license": "gemma",
            "tags": ["small"],
            "input_price_per_million": 0.1,
            "output_price_per_million": 0.4,
            "keep_alive": "10m",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json()["state"] == "unloaded" and added.json()["keep_alive"] == 600
    listed = api.get("/v1/models").json()["data"]
    assert {m["id"] for m in listed} == {"gemma-3-270m", "hf-gemma"}
    again = api.post("/api/admin/models", json={"id": "hf-gemma", "source": str(model_path)})
    assert again.status_code == 400  # the name is served
    bad = api.post("/api/admin/models", json={"id": "nope", "source": "/no/such.gguf"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"

    # A cap of one loaded model: alternating requests swap them.
    before = loads(api, "hf-gemma") + loads(api, "gemma-3-270m")
    for model in ("org/hf-gemma", "gemma-3-270m", "hf-gemma"):
        assert complete(api, model).status_code == 200
        status = api.get("/api/admin/status").json()
        assert len(status["models"]) == 1
    assert loads(api, "hf-gemma") + loads(api, "gemma-3-270m") == before + 3
    loaded = api.get("/api/admin/status").json()["models"][0]
    assert loaded["id"] == "hf-gemma" and loaded["num_active_requests"] == 0
    assert loaded["memory_bytes"] > model_path.stat().st_size and loaded["load_seconds"] > 0

    # A busy model is not evicted: a request for the other one gets 503 with Retry-After.
    with api.stream(
        "POST",
        "/v1/completions",
        json={"model": "hf-gemma", "prompt": "Hi", "max_tokens": 100, "ignore_eos": True, "stream": True},
    ) as stream:
        lines = stream.iter_lines()  # kept: dropping the iterator would close the stream
        assert next(lines).startswith("data: ")
        assert api.get("/api/admin/status").json()["models"][0]["num_active_requests"] == 1
        busy = complete(api, "gemma-3-270m")
        assert busy.status_code == 503 and "retry-after" in busy.headers
    assert api.delete("/api/admin/models/hf-gemma").status_code == 204
    assert complete(api, "hf-gemma").status_code == 404
    assert api.get("/api/admin/models/hf-gemma").status_code == 404


def test_keep_alive_zero_unloads_after_the_request(api: httpx.Client) -> None:
    assert complete(api, "gemma-3-270m", keep_alive=0).status_code == 200
    assert api.get("/api/admin/status").json()["models"] == []
    assert complete(api, "gemma-3-270m", keep_alive="5m").status_code == 200
    assert api.get("/api/admin/status").json()["models"][0]["keep_alive"] == 300
    refused = complete(api, "gemma-3-270m", keep_alive="soon")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "keep_alive"


def test_deployments_in_the_catalog(api: httpx.Client) -> None:
    created = api.post(
        "/api/admin/deployments",
        json={"name": "tiny", "model": "gemma-3-270m", "defaults": {"max_tokens": 3}, "keep_alive": "1h"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["keep_alive"] == 3600
    answer = api.post("/tiny/v1/completions", json={"prompt": "Hi", "temperature": 0})
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] <= 3
    assert api.post("/api/admin/deployments", json={"name": "tiny", "model": "gemma-3-270m"}).status_code == 409
    updated = api.patch("/api/admin/deployments/tiny", json={"defaults": {"max_tokens": 1}})
    assert updated.json()["defaults"]["max_tokens"] == 1
    answer = api.post("/tiny/v1/completions", json={"prompt": "Hi", "temperature": 0})
    assert answer.json()["usage"]["completion_tokens"] == 1
    assert [d["name"] for d in api.get("/api/admin/deployments").json()["data"]] == ["tiny"]
    assert api.delete("/api/admin/deployments/tiny").status_code == 204
    assert api.post("/tiny/v1/completions", json={"prompt": "Hi"}).status_code == 404


def test_a_catalog_models_defaults_apply_where_a_request_leaves_them_out(api: httpx.Client, model_path: Path) -> None:
    added = api.post(
        "/api/admin/models", json={"id": "tuned", "source": str(model_path), "defaults": {"max_tokens": 6, "top_k": 1}}
    )
    assert added.status_code == 201, added.text
    hello = [{"role": "user", "content": "Say hello."}]

    def chat(path: str = "/v1/chat/completions", **fields: object) -> dict[str, Any]:
        response = api.post(path, json={"model": "tuned", "messages": hello, **fields})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body.get("data", body)  # the portal's envelope

    try:
        greedy = chat(max_tokens=6, temperature=0)
        assert greedy["usage"]["completion_tokens"] == 6  # this answer has no early end-of-turn
        # top_k 1 from the catalog: even at temperature 2 the answer is the greedy one, and 6 tokens long.
        hot = chat(temperature=2)
        assert hot["usage"]["completion_tokens"] == 6 and hot["choices"][0]["finish_reason"] == "length"
        assert hot["choices"][0]["message"] == greedy["choices"][0]["message"]
        # The client's own values win field by field; top_k 0 turns the truncation off again.
        assert chat(max_tokens=2)["usage"]["completion_tokens"] == 2
        unbounded = chat(temperature=2, top_k=0)
        assert unbounded["choices"][0]["message"] != greedy["choices"][0]["message"]
        # The portal dialect too, and completions, whose own default of 16 tokens gives way.
        portal = chat("/api/v1/ai/chat/completions", temperature=2)
        assert portal["choices"][0]["message"]["content"] == greedy["choices"][0]["message"]["content"]
        completion = api.post("/v1/completions", json={"model": "tuned", "prompt": "Say hello."}).json()
        assert completion["usage"]["completion_tokens"] == 6
    finally:
        assert api.delete("/api/admin/models/tuned").status_code == 204
