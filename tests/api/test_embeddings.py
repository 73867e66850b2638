"""POST /v1/embeddings on the live server, through the OpenAI SDK, LangChain and raw HTTP."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest
from langchain_openai import OpenAIEmbeddings
from openai import OpenAI

from tests.api.conftest import MODEL
from tests.live_server import ADMIN_KEY, new_key

TEXTS = ["The cat sat on the mat.", "Paris is the capital of France.", "def add(a, b): return a + b"]
EMBEDDING_SIZE = 640  # the bundled Gemma 3 270M's hidden size


def _vectors(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["index"] for item in body["data"]] == list(range(len(body["data"])))
    return np.array([item["embedding"] for item in body["data"]], dtype=np.float32)


def _error(response: httpx.Response, status: int, param: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    return error


def test_the_sdk_gets_unit_vectors_as_floats_and_as_base64(client: OpenAI, http: httpx.Client) -> None:
    floats = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float")
    # The SDK asks for base64 by default and decodes it itself.
    decoded = client.embeddings.create(model=MODEL, input=TEXTS)
    as_floats = np.array([item.embedding for item in floats.data], dtype=np.float32)
    assert as_floats.shape == (len(TEXTS), EMBEDDING_SIZE)
    assert np.allclose(np.linalg.norm(as_floats, axis=1), 1.0, atol=1e-5)
    # The same float32 values both ways, exactly.
    assert np.array_equal(np.array([item.embedding for item in decoded.data], dtype=np.float32), as_floats)
    # Different texts, different vectors.
    assert float(as_floats[0] @ as_floats[1]) < 0.999
    num_tokens = sum(http.post("/tokenize", json={"model": MODEL, "prompt": text}).json()["count"] for text in TEXTS)
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == num_tokens
    assert floats.model == MODEL and floats.object == "list"


def test_base64_is_little_endian_float32(http: httpx.Client) -> None:
    raw = http.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS[0], "encoding_format": "base64"})
    assert raw.status_code == 200, raw.text
    vector = np.frombuffer(base64.b64decode(raw.json()["data"][0]["embedding"]), dtype="<f4")
    floats = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS[0]}))
    assert np.array_equal(vector, floats[0])


def test_token_arrays_embed_as_the_text_they_spell(http: httpx.Client) -> None:
    tokens = [http.post("/tokenize", json={"model": MODEL, "prompt": t}).json()["tokens"] for t in TEXTS[:2]]
    by_text = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS[:2]}))
    one_array = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": tokens[0]}))
    arrays = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": tokens}))
    assert np.abs(one_array[0] - by_text[0]).max() <= 1e-5
    assert np.abs(arrays - by_text).max() <= 1e-5


def test_langchain_openai_embeddings(server_url: str, client: OpenAI) -> None:
    # No tiktoken length check: that is for OpenAI's own models (and would download a tokenizer).
    embeddings = OpenAIEmbeddings(
        model=MODEL, base_url=f"{server_url}/v1", api_key=ADMIN_KEY, check_embedding_ctx_length=False
    )
    documents = np.array(embeddings.embed_documents(TEXTS), dtype=np.float32)
    query = np.array(embeddings.embed_query(TEXTS[1]), dtype=np.float32)
    expected = np.array(
        [item.embedding for item in client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float").data],
        dtype=np.float32,
    )
    assert np.abs(documents - expected).max() <= 1e-5
    assert np.abs(query - expected[1]).max() <= 1e-5
    # Retrieval works: the query is nearest to its own document.
    assert int(np.argmax(documents @ query)) == 1


def test_each_call_writes_one_usage_row_with_its_prompt_tokens(http: httpx.Client, server_url: str) -> None:
    auth = new_key(http)
    prefix = auth["Authorization"].removeprefix("Bearer ")[:11]
    key_id = next(k["id"] for k in http.get("/api/admin/keys").json()["data"] if k["prefix"] == prefix)
    with httpx.Client(base_url=server_url, headers=auth, timeout=60) as caller:
        for i, inputs in enumerate((TEXTS[0], TEXTS)):
            answer = caller.post(
                "/v1/embeddings", json={"model": MODEL, "input": inputs}, headers={"X-Request-Id": f"embed-{i}"}
            )
            assert answer.status_code == 200, answer.text
            rows = http.get("/api/admin/usage", params={"key_id": key_id, "limit": 100}).json()["data"]
            assert len(rows) == i + 1
            row = next(r for r in rows if r["request_id"] == f"embed-{i}")
            assert row["num_prompt_tokens"] == answer.json()["usage"]["prompt_tokens"]
            assert row["num_completion_tokens"] == 0
            assert row["status"] == "ok" and row["dialect"] == "openai" and row["model"] == MODEL


def test_keys_limit_embeddings_as_any_call(http: httpx.Client, server_url: str) -> None:
    body = {"model": MODEL, "input": "hello"}
    other_model = new_key(http, allowed_models=["some-other-model"])
    chat = httpx.post(
        f"{server_url}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
        headers=other_model,
        timeout=60,
    )
    assert chat.status_code in (403, 404)
    # Refused exactly as a chat call of the same key is.
    refused = _error(
        httpx.post(f"{server_url}/v1/embeddings", json=body, headers=other_model), chat.status_code, "model"
    )
    assert refused["code"] == chat.json()["error"]["code"]
    _error(httpx.post(f"{server_url}/v1/embeddings", json=body), 401, None)
    one_per_minute = new_key(http, max_requests_per_minute=1)
    assert httpx.post(f"{server_url}/v1/embeddings", json=body, headers=one_per_minute, timeout=60).status_code == 200
    limited = httpx.post(f"{server_url}/v1/embeddings", json=body, headers=one_per_minute, timeout=60)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("fields", "status", "param", "code"),
    [
        ({"dimensions": 256}, 400, "dimensions", "invalid_request"),
        ({"input": []}, 400, "input", "invalid_request"),
        ({"input": ""}, 400, "input", "invalid_request"),
        ({"input": [[2, 651], []]}, 400, "input", "invalid_request"),
        ({"input": [2, -1]}, 400, "input", "invalid_request"),
        ({"input": [[2, 10**9]]}, 400, "input", "invalid_request"),
        ({"input": ["text", 5]}, 400, "input", None),
        ({"input": "word " * 600}, 400, "input", "context_length_exceeded"),
        ({"input": ["x"] * 2049}, 400, "input", "invalid_request"),
        ({"encoding_format": "int8"}, 400, "encoding_format", None),
        ({"model": "no-such-model"}, 404, "model", "model_not_found"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(
    http: httpx.Client, fields: dict[str, Any], status: int, param: str, code: str | None
) -> None:
    error = _error(http.post("/v1/embeddings", json={"model": MODEL, "input": "hello", **fields}), status, param)
    if code is not None:
        assert error["code"] == code


def test_dimensions_equal_to_the_models_size_are_accepted(http: httpx.Client) -> None:
    vectors = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": "hi", "dimensions": EMBEDDING_SIZE}))
    assert vectors.shape == (1, EMBEDDING_SIZE)


def test_a_deployment_embeds_with_its_model(http: httpx.Client) -> None:
    through_deployment = _vectors(http.post("/short/v1/embeddings", json={"input": TEXTS[0]}))
    direct = _vectors(http.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS[0]}))
    assert np.abs(through_deployment - direct).max() <= 1e-5
    _error(http.post("/short/v1/embeddings", json={"model": "other", "input": "x"}), 404, "model")
    _error(http.post("/no-such-deployment/v1/embeddings", json={"input": "x"}), 404, None)


def test_the_model_lists_say_the_model_serves_embeddings(client: OpenAI, http: httpx.Client) -> None:
    card = next(model for model in client.models.list().data if model.id == MODEL)
    # The bundled model is a chat model that embeds too (its GGUF names no pooling).
    assert (card.model_extra or {})["capabilities"] == ["chat", "completions", "embeddings"]
    catalog = next(model for model in http.get("/api/admin/models").json()["data"] if model["id"] == MODEL)
    assert catalog["capabilities"] == ["chat", "completions", "embeddings"]
    console = http.get(f"/api/console/models/{MODEL}").json()
    assert console["capabilities"] == ["chat", "completions", "embeddings"]
