"""Deployment endpoints (/{deployment}/v1/...), their defaults, and model aliases with a slash.

The shared live server serves a deployments file (tests/api/conftest.py) and answers to the
alias ``google/gemma-3-270m``; the loader, the wire models and the GGUF reader are tested
without a server.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from openmaas.api.openai.deployments import DeploymentChatRequest, DeploymentCompletionRequest
from openmaas.app import create_app
from openmaas.control.deployments import DeploymentsFileError, GenerationDefaults, load_deployments, request_defaults
from openmaas.fleet.gguf_metadata import huggingface_repo, read_string_metadata
from openmaas.fleet.sources import local_model
from openmaas.settings import Settings
from tests.api.conftest import ALIAS, DEPLOYMENTS, MODEL
from tests.live_server import ADMIN_KEY, AUTH, live_server

SEA = [{"role": "user", "content": "Write a short poem about the sea."}]
# The specification's defaults, spelled as /v1 request fields.
SPEC_DEFAULTS = {"temperature": 0.7, "top_p": 0.7, "top_k": 40, "repetition_penalty": 1.0, "seed": 2}


@pytest.fixture(scope="module")
def deployments_url(server_url: str) -> str:
    return server_url


@pytest.fixture()
def api(deployments_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=deployments_url, timeout=60.0, headers=AUTH) as http_client:
        yield http_client


def post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def chat_text(api: httpx.Client, path: str, **fields: Any) -> str:
    choice = post(api, path, {"model": ALIAS, "messages": SEA, **fields})["choices"][0]
    text: str = choice["message"]["content"]
    return text


# Defaults and overrides ----------------------------------------------------------


def test_a_deployment_answers_the_same_to_the_same_request_without_a_seed(api: httpx.Client) -> None:
    first = post(api, "/short/v1/chat/completions", {"model": ALIAS, "messages": SEA})
    second = post(api, "/short/v1/chat/completions", {"model": ALIAS, "messages": SEA})
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    # The deployment's max_tokens (12) applied.
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["usage"]["completion_tokens"] == 12


def test_the_default_deployment_samples_with_the_specifications_defaults(api: httpx.Client) -> None:
    deployed = chat_text(api, "/plain/v1/chat/completions", max_tokens=12)
    explicit = chat_text(api, "/v1/chat/completions", max_tokens=12, **SPEC_DEFAULTS)
    assert deployed == explicit
    # Without the seed the text would come from fresh entropy: a different seed shows the seed was used.
    others = {chat_text(api, "/v1/chat/completions", max_tokens=12, **{**SPEC_DEFAULTS, "seed": s}) for s in (3, 4, 5)}
    assert others - {deployed}


def test_a_requests_own_values_override_the_defaults(api: httpx.Client) -> None:
    answer = post(api, "/short/v1/chat/completions", {"model": ALIAS, "messages": SEA, "max_tokens": 2})
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 2
    greedy = chat_text(api, "/short/v1/chat/completions", temperature=0)
    assert greedy == chat_text(api, "/v1/chat/completions", temperature=0, max_tokens=12, seed=2)


def test_null_fields_take_the_deployments_defaults(api: httpx.Client) -> None:
    default = chat_text(api, "/short/v1/chat/completions")
    assert chat_text(api, "/short/v1/chat/completions", temperature=None, seed=None, max_tokens=None) == default


def test_random_sed_is_the_seed(api: httpx.Client) -> None:
    default = chat_text(api, "/short/v1/chat/completions")
    assert chat_text(api, "/short/v1/chat/completions", random_sed=2) == default
    by_spelling = {s: chat_text(api, "/short/v1/chat/completions", random_sed=s) for s in (3, 4, 5, 6)}
    assert any(text != default for text in by_spelling.values())
    assert chat_text(api, "/short/v1/chat/completions", seed=5) == by_spelling[5]


def test_end_id_stops_at_that_token(api: httpx.Client) -> None:
    body = {"prompt": "The capital of France is", "logprobs": 0}
    plain = post(api, "/short/v1/completions", body)["choices"][0]
    first_token = plain["logprobs"]["tokens"][0]
    (token_id,) = post(api, "/tokenize", {"model": ALIAS, "prompt": first_token, "add_special_tokens": False})["tokens"]
    stopped = post(api, "/short/v1/completions", {**body, "end_id": token_id})
    (choice,) = stopped["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["stop_reason"] == token_id
    assert choice["text"] == ""
    assert stopped["usage"]["completion_tokens"] == 1  # the stop token counts, as the end-of-turn token does


def test_an_end_id_outside_the_vocabulary_is_refused(api: httpx.Client) -> None:
    response = api.post("/short/v1/completions", json={"prompt": "Hi", "end_id": 10**9})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "end_id"


def test_completions_take_the_raw_prompt_with_the_deployments_defaults(api: httpx.Client) -> None:
    prompt = "Once upon a time"
    deployed = post(api, "/short/v1/completions", {"model": ALIAS, "prompt": prompt})
    explicit = post(api, "/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 12, **SPEC_DEFAULTS})
    assert deployed["choices"][0]["text"] == explicit["choices"][0]["text"]
    for count in ("prompt_tokens", "completion_tokens"):
        assert deployed["usage"][count] == explicit["usage"][count]
    assert deployed["object"] == "text_completion"


def test_a_deployment_streams(api: httpx.Client) -> None:
    whole = chat_text(api, "/short/v1/chat/completions")
    body = {"model": ALIAS, "messages": SEA, "stream": True}
    with api.stream("POST", "/short/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [httpx.Response(200, content=line.removeprefix("data: ")).json() for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == whole


def test_the_openai_sdk_uses_a_deployment_as_its_base_url(deployments_url: str) -> None:
    with OpenAI(base_url=f"{deployments_url}/short/v1", api_key=ADMIN_KEY, max_retries=0) as client:
        assert [m.id for m in client.models.list().data] == [MODEL]
        response = client.chat.completions.create(model=ALIAS, messages=SEA, max_tokens=3)  # type: ignore[arg-type]
        assert response.model == ALIAS
        assert response.usage is not None and response.usage.completion_tokens == 3
        completion = client.completions.create(model=ALIAS, prompt="Hello", extra_body={"random_sed": 7})
        assert completion.choices[0].finish_reason in ("stop", "length")


# The model field and unknown deployments ------------------------------------------


@pytest.mark.parametrize("model", [None, "short", MODEL, ALIAS])
def test_model_may_be_absent_the_deployment_or_a_name_of_its_model(api: httpx.Client, model: str | None) -> None:
    body: dict[str, Any] = {"messages": SEA, "max_tokens": 1}
    if model is not None:
        body["model"] = model
    answer = post(api, "/short/v1/chat/completions", body)
    assert answer["model"] == (ALIAS if model in (None, "short") else model)


def test_another_model_is_not_found(api: httpx.Client) -> None:
    response = api.post("/short/v1/chat/completions", json={"model": "SeaLLMs/SeaLLMs-v3-1.5B-Chat", "messages": SEA})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert ALIAS in error["message"]


@pytest.mark.parametrize("path", ["/nope/v1/chat/completions", "/nope/v1/completions", "/v1/v1/chat/completions"])
def test_an_unknown_deployment_is_404_in_openais_shape(api: httpx.Client, path: str) -> None:
    # Not even a valid body: the deployment is looked up first.
    response = api.post(path, json={})
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    error = response.json()["error"]
    assert error["code"] == "deployment_not_found"
    assert error["type"] == "invalid_request_error"
    assert "nope" in error["message"] or "v1" in error["message"]


def test_the_fixed_routes_are_not_shadowed(api: httpx.Client) -> None:
    assert post(api, "/v1/chat/completions", {"model": MODEL, "messages": SEA, "max_tokens": 1})["model"] == MODEL
    assert api.get("/api/admin/status").status_code == 200
    assert api.get("/health").json()["models"] == {MODEL: True}


# Aliases with a slash -----------------------------------------------------------------


def test_a_model_id_with_a_slash_works_on_every_route(api: httpx.Client) -> None:
    card = api.get(f"/v1/models/{ALIAS}")
    assert card.status_code == 200
    assert card.json()["id"] == MODEL  # the card names the model by its id
    # One entry per loaded model: aliases resolve everywhere but are not listed.
    assert [m["id"] for m in api.get("/v1/models").json()["data"]] == [MODEL]
    answer = post(api, "/v1/chat/completions", {"model": ALIAS, "messages": SEA, "max_tokens": 2})
    assert answer["model"] == ALIAS
    assert post(api, "/v1/completions", {"model": ALIAS, "prompt": "Hi", "max_tokens": 1})["model"] == ALIAS
    tokens = post(api, "/tokenize", {"model": ALIAS, "prompt": "Hello"})["tokens"]
    assert post(api, "/detokenize", {"model": ALIAS, "tokens": tokens})["prompt"] == "Hello"
    assert api.get("/v1/models/google/no-such-model").json()["error"]["code"] == "model_not_found"


def test_aliases_come_from_settings_as_a_list_or_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMAAS_MODEL_ALIASES", "google/gemma-3-270m, gemma3")
    assert Settings().model_aliases == ["google/gemma-3-270m", "gemma3"]
    monkeypatch.setenv("OPENMAAS_MODEL_ALIASES", '["a/b"]')
    assert Settings().model_aliases == ["a/b"]


def _gguf(path: Path, strings: dict[str, str]) -> Path:
    """A GGUF header with string metadata (and a u32 and an array, to be skipped)."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<Q", len(data)) + data

    items = [text("general.file_type") + struct.pack("<II", 4, 15)]
    items.append(text("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + text("<pad>") + text("<eos>"))
    items += [text(key) + struct.pack("<I", 8) + text(value) for key, value in strings.items()]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(items)) + b"".join(items))
    return path


def test_the_repository_a_gguf_names_becomes_an_alias(tmp_path: Path) -> None:
    named = _gguf(tmp_path / "it.gguf", {"general.source.repo_url": "https://huggingface.co/google/gemma-3-270m-it"})
    assert local_model(str(named)).aliases == ("google/gemma-3-270m-it",)
    assert local_model(str(named), "gemma").names == ("gemma", "google/gemma-3-270m-it")
    plain = _gguf(tmp_path / "plain.gguf", {"general.name": "Plain"})
    assert local_model(str(plain)).aliases == ()
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf")
    assert local_model(str(tmp_path / "junk.gguf")).aliases == ()


def test_huggingface_repo_reads_the_source_keys() -> None:
    assert huggingface_repo({"general.source.huggingface.repository": "Qwen/Qwen3-0.6B"}) == "Qwen/Qwen3-0.6B"
    assert huggingface_repo({"general.source.url": "https://hf.co/org/name/"}) == "org/name"
    assert huggingface_repo({"general.source.url": "https://github.com/org/name"}) is None
    # A base model is not the model itself.
    assert huggingface_repo({"general.base_model.0.repo_url": "https://huggingface.co/google/gemma-3-270m"}) is None


def test_the_bundled_gguf_names_no_repository(model_path: Path) -> None:
    # So the bundled model has no alias unless OPENMAAS_MODEL_ALIASES gives one.
    metadata = read_string_metadata(model_path)
    assert metadata["general.name"] == "Gemma 3 270m"
    assert huggingface_repo(metadata) is None


# The deployments file, without a server ----------------------------------------------


def test_the_file_gives_each_deployment_its_defaults(tmp_path: Path) -> None:
    file = tmp_path / "d.toml"
    file.write_text(
        DEPLOYMENTS + '[deployments.fresh]\nmodel = "m"\n[deployments.fresh.defaults]\n'
        'seed = "none"\nstop = "END"\nend_id = 7\ntemperature = 1\n'
    )
    deployments = load_deployments(file)
    assert [d.name for d in deployments.list()] == ["plain", "short", "fresh"]
    assert deployments.get("plain").defaults == GenerationDefaults()
    assert deployments.get("plain").defaults.request_fields() == {"max_tokens": 1024, **SPEC_DEFAULTS}
    assert deployments.get("short").model == ALIAS
    fresh = deployments.get("fresh").defaults
    assert (fresh.seed, fresh.stop, fresh.end_id, fresh.temperature) == (None, ("END",), 7, 1.0)
    assert fresh.request_fields()["stop"] == ["END"]
    assert "seed" not in fresh.request_fields()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[deployments.v1]\nmodel = "m"', "'v1' is reserved"),
        # /models/{id} is the console's model page.
        ('[deployments.models]\nmodel = "m"', "'models' is reserved"),
        ('[deployments."a/b"]\nmodel = "m"', "a deployment name is"),
        ("[deployments.d]\n", r"deployments\.d\.model: the id of a served model is required"),
        ('[deployments.d]\nmodel = "m"\nmodle = "x"', "deployments.d: unknown key 'modle'"),
        ('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\ntemprature = 1', "unknown key 'temprature'"),
        ('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\ntop_k = 1.5', "top_k: expected an integer"),
        ('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\nmax_tokens = 0', "max_tokens: must be at least 1"),
        ('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\ntemperature = "hot"', "expected a number"),
        ('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\nstop = [""]', "stop: expected a non-empty"),
        ('[deployment.d]\nmodel = "m"', "unknown key 'deployment'"),
        ("[deployments", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "d.toml"
    file.write_text(text)
    with pytest.raises(DeploymentsFileError, match=message):
        load_deployments(file)


def test_a_bad_file_stops_the_server_before_the_model_loads(tmp_path: Path) -> None:
    file = tmp_path / "d.toml"
    file.write_text('[deployments.d]\nmodel = "m"\n[deployments.d.defaults]\ntop_k = "many"')
    with pytest.raises(DeploymentsFileError, match="top_k"):
        create_app(Settings(home=tmp_path, deployments_file=file))
    with pytest.raises(DeploymentsFileError, match="cannot read"):
        create_app(Settings(home=tmp_path, deployments_file=tmp_path / "missing.toml"))


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ('model = "no-such-model"', "'no-such-model' is not a served model"),
        (f'model = "{MODEL}"\n[deployments.d.defaults]\ntemperature = 5', "temperature must be between"),
    ],
)
def test_a_deployment_the_server_cannot_serve_stops_it_at_start(
    openmaas_home: Path, model_path: Path, tmp_path: Path, defaults: str, message: str
) -> None:
    file = tmp_path / "d.toml"
    file.write_text(f"[deployments.d]\n{defaults}")
    with pytest.raises(RuntimeError, match=message):
        with live_server(openmaas_home, {"OPENMAAS_DEPLOYMENTS_FILE": str(file)}):
            pass


def test_the_wire_models_take_random_sed_and_end_id() -> None:
    request = DeploymentChatRequest.model_validate({"messages": SEA, "random_sed": 9, "end_id": 5})
    assert request.seed == 9
    assert "seed" in request.model_fields_set
    params = request.to_sampling_params()
    assert (params.seed, params.stop_token_ids) == (9, (5,))
    both = DeploymentCompletionRequest.model_validate(
        {"prompt": "x", "seed": 1, "random_sed": 9, "stop_token_ids": [5]}
    )
    assert both.seed == 1  # OpenAI's spelling wins
    assert both.model_copy(update={"end_id": 5}).to_sampling_params().stop_token_ids == (5,)


def test_a_models_defaults_set_only_the_fields_they_name() -> None:
    table = {"temperature": 0, "stop": "###", "seed": "none", "end_id": 106}
    assert request_defaults("models.m.defaults", table) == {
        "temperature": 0.0,
        "stop": ["###"],
        "stop_token_ids": [106],
    }
    assert request_defaults("models.m.defaults", {}) == {}
    with pytest.raises(DeploymentsFileError, match="models.m.defaults.top_k"):
        request_defaults("models.m.defaults", {"top_k": "many"})
