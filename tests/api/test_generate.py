"""The generate dialect (/api/generate, /api/generate-batch) against the live server, as its seed shows it."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import engine_stats
from tests.live_server import AUTH

# The seed's own prompt. The bundled model echoes it over and over, without an end-of-turn, so a
# greedy generation of 64 tokens never stops early.
SEED_PROMPT = "[INST] Generate a very long poem about 1000 cats [/INST]\n\n"
GREEDY_32 = {"do_sample": False, "max_new_tokens": 32}
CHAT_PROMPT = "<start_of_turn>user\nWrite a poem about {}.<end_of_turn>\n<start_of_turn>model\n"


def _generate(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post("/api/generate", json=body)


def _streamed_text(http: httpx.Client, body: dict[str, Any]) -> tuple[str, int]:
    """The streamed answer's text and the number of chunks it came in."""
    text, chunks = "", 0
    with http.stream("POST", "/api/generate", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        for piece in response.iter_text():
            text += piece
            chunks += 1
    return text, chunks


def test_continuing_a_request_id_equals_one_longer_generation_and_computes_no_prompt_again(
    http: httpx.Client,
) -> None:
    whole = _generate(
        http,
        {
            "request_id": "whole-64",
            "prompt": SEED_PROMPT,
            "stream_response": False,
            "generation_config": {"do_sample": False, "max_new_tokens": 64},
        },
    )
    assert whole.status_code == 200 and whole.headers["x-completion-tokens"] == "64"

    first, num_chunks = _streamed_text(
        http, {"request_id": "cont-1", "prompt": SEED_PROMPT, "generation_config": GREEDY_32}
    )
    assert num_chunks > 1  # streamed by default, in pieces
    before = engine_stats(http)
    # The prompt of a continued request is ignored.
    second = _generate(
        http,
        {"request_id": "cont-1", "prompt": "ignored", "stream_response": False, "generation_config": GREEDY_32},
    )
    after = engine_stats(http)

    assert second.status_code == 200
    assert first + second.text == whole.text
    assert after["num_computed_prompt_tokens"] == before["num_computed_prompt_tokens"]
    assert after["num_session_resumes"] == before["num_session_resumes"] + 1
    num_prompt = int(whole.headers["x-prompt-tokens"])
    assert second.headers["x-prompt-tokens"] == str(num_prompt + 32)
    assert second.headers["x-cached-tokens"] == str(num_prompt + 31)


def test_only_new_tokens_false_returns_the_whole_sequence_so_far(http: httpx.Client) -> None:
    config = {"do_sample": False, "max_new_tokens": 8}
    first = _generate(
        http,
        {"request_id": "full-1", "prompt": SEED_PROMPT, "stream_response": False, "generation_config": config},
    ).text
    full = _generate(
        http,
        {
            "request_id": "full-1",
            "prompt": SEED_PROMPT,
            "stream_response": False,
            "only_new_tokens": False,
            "generation_config": config,
        },
    ).text
    # As Hugging Face decodes it: the BOS written out, then the prompt, then every generated token.
    assert full.startswith("<bos>" + SEED_PROMPT + first)
    assert len(full) > len("<bos>" + SEED_PROMPT + first)


def test_omitted_generation_config_fields_take_the_settings_defaults(http: httpx.Client) -> None:
    # The live server runs with OPENMAAS_GENERATE_MAX_NEW_TOKENS=24.
    response = _generate(
        http,
        {
            "request_id": "defaults",
            "prompt": SEED_PROMPT,
            "stream_response": False,
            "generation_config": {"do_sample": False},
        },
    )
    assert response.headers["x-completion-tokens"] == "24"


def test_do_sample_false_is_greedy_and_beam_search_answers(http: httpx.Client) -> None:
    prompt = CHAT_PROMPT.format("the sea")
    texts = [
        _generate(
            http,
            {"request_id": f"greedy-{i}", "prompt": prompt, "stream_response": False, "generation_config": GREEDY_32},
        ).text
        for i in range(2)
    ]
    assert texts[0] == texts[1] and texts[0]
    beams = {"num_beams": 2, "max_new_tokens": 8, "length_penalty": 1.0}
    beam_texts = [
        _generate(
            http,
            {"request_id": f"beam-{i}", "prompt": prompt, "stream_response": False, "generation_config": beams},
        )
        for i in range(2)
    ]
    assert all(r.status_code == 200 for r in beam_texts)
    assert beam_texts[0].text == beam_texts[1].text and beam_texts[0].text


@pytest.mark.parametrize("only_new_tokens", [True, False])
def test_generate_batch_answers_in_the_seed_array_shape(http: httpx.Client, only_new_tokens: bool) -> None:
    suffix = "new" if only_new_tokens else "full"
    prompts = [
        {"request_id": f"cats-{suffix}", "prompt": CHAT_PROMPT.format("1000 cats")},
        {"request_id": f"dogs-{suffix}", "prompt": CHAT_PROMPT.format("1000 dogs")},
    ]
    body = {
        "prompts": prompts,
        "only_new_tokens": only_new_tokens,
        "generation_config": {
            "num_beams": 1,
            "do_sample": True,
            "temperature": 1,
            "top_p": 1,
            # The seed's config, but top_k 1: a sampled end-of-turn could leave a response empty.
            "top_k": 1,
            "max_new_tokens": 8,
            "repetition_penalty": 1,
            "length_penalty": 1,
        },
    }
    response = http.post("/api/generate-batch", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert [item["request_id"] for item in answer] == [p["request_id"] for p in prompts]
    for item, sent in zip(answer, prompts, strict=True):
        if only_new_tokens:
            assert set(item) == {"request_id", "response"}
        else:
            assert set(item) == {"request_id", "prompt", "response"}
            assert item["prompt"] == "<bos>" + sent["prompt"]
        assert isinstance(item["response"], str) and item["response"]


def test_a_batch_is_one_session_keyed_by_its_ordered_request_ids(http: httpx.Client) -> None:
    prompts = [
        {"request_id": "order-a", "prompt": CHAT_PROMPT.format("rain")},
        {"request_id": "order-b", "prompt": CHAT_PROMPT.format("snow")},
    ]
    config = {"do_sample": False, "max_new_tokens": 6}
    first = http.post("/api/generate-batch", json={"prompts": prompts, "generation_config": config}).json()
    before = engine_stats(http)
    again = http.post(
        "/api/generate-batch",
        json={"prompts": prompts, "only_new_tokens": False, "generation_config": config},
    ).json()
    after = engine_stats(http)
    assert after["num_session_resumes"] == before["num_session_resumes"] + 2
    assert after["num_computed_prompt_tokens"] == before["num_computed_prompt_tokens"]
    for item, earlier in zip(again, first, strict=True):
        assert item["response"].startswith(earlier["response"])
    # The other order is another session: a fresh start from the prompts.
    before = engine_stats(http)
    http.post("/api/generate-batch", json={"prompts": prompts[::-1], "generation_config": config})
    assert engine_stats(http)["num_session_resumes"] == before["num_session_resumes"]


def test_a_request_id_still_generating_is_refused_with_409(http: httpx.Client, server_url: str) -> None:
    body = {
        "request_id": "busy",
        "prompt": SEED_PROMPT,
        "generation_config": {"do_sample": False, "max_new_tokens": 200},
    }
    with (
        httpx.Client(base_url=server_url, timeout=60.0, headers=AUTH) as other,
        other.stream("POST", "/api/generate", json=body) as r,
    ):
        chunks = r.iter_text()  # kept: dropping the iterator would close the stream
        next(chunks)  # the first generation is running
        clash = http.post("/api/generate", json={**body, "stream_response": False})
        assert clash.status_code == 409
        assert clash.json() == {"detail": clash.json()["detail"], "code": "conflict", "param": None}


def test_the_seed_fetch_reader_loop_prints_the_streamed_text(server_url: str, tmp_path: Path) -> None:
    """The seed's JavaScript as written (only the URL and the key swapped in): fetch() with a JSON
    string body and no Content-Type."""
    node = shutil.which("node")
    assert node is not None, "node is needed for this test (Debian's nodejs package)"
    post_data = {
        "request_id": "fetch-loop",
        "prompt": SEED_PROMPT,
        "only_new_tokens": True,
        "stream_response": True,
        "generation_config": {
            "num_beams": 1,
            "do_sample": True,
            "temperature": 1,
            "top_p": 1,
            # top_k 1: the text is the greedy echo, so "detail" (an error's key) cannot turn up by chance.
            "top_k": 1,
            "max_new_tokens": 16,
            "repetition_penalty": 1,
            "length_penalty": 1,
        },
    }
    script = tmp_path / "fetch_loop.mjs"
    script.write_text(
        textwrap.dedent(
            f"""
            const url = {json.dumps(server_url + "/api/generate")};
            const postData = {json.dumps(post_data)};
            const response=await fetch(url,{{method: 'POST',body: JSON.stringify(postData),
            headers: {{Authorization: {json.dumps(AUTH["Authorization"])}}},  // the key, swapped in
            }})
            // Access stream reader
            const reader=response.body.getReader()
            while(true){{const {{done, value}}=await reader.read()
            if(done)break
            console.log(new TextDecoder().decode(value))}}
            """
        )
    )
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert printed and "detail" not in printed


ERROR_CASES = [
    ("/api/generate", b'{"prompt": "hi"}', 400, "request_id"),
    ("/api/generate", b'{"request_id": 5, "prompt": "hi"}', 400, "request_id"),
    ("/api/generate", b'{"request_id": "x", "prompt": "hi", "generation_config": {"top_k": "many"}}', 400, None),
    ("/api/generate", b'{"request_id": "x", "prompt": "hi", "generation_config": {"temperature": 9}}', 400, None),
    ("/api/generate", b"not json", 400, None),
    ("/api/generate", b'{"request_id": "x", "prompt": "hi", "model": "no-such-model"}', 404, "model"),
    ("/api/generate-batch", b'{"prompts": []}', 400, "prompts"),
    (
        "/api/generate-batch",
        b'{"prompts": [{"request_id": "d", "prompt": "a"}, {"request_id": "d", "prompt": "b"}]}',
        400,
        "prompts",
    ),
    ("/api/generate-batch", b'{"prompts": "cats"}', 400, "prompts"),
]


@pytest.mark.parametrize(("path", "raw", "status", "param"), ERROR_CASES)
def test_bad_input_gets_the_dialect_error_shape(
    http: httpx.Client, path: str, raw: bytes, status: int, param: str | None
) -> None:
    response = http.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"detail", "code", "param"}
    assert isinstance(body["detail"], str) and body["detail"]
    if param is not None:
        assert body["param"] == param


def test_an_oversized_prompt_is_refused_with_the_context_named(http: httpx.Client) -> None:
    response = _generate(http, {"request_id": "huge", "prompt": "cat " * 2000, "stream_response": False})
    assert response.status_code == 400
    assert response.json()["code"] == "context_length_exceeded"
    # A refused first call leaves no session behind: the id is free for a new prompt.
    ok = _generate(
        http,
        {"request_id": "huge", "prompt": "hi", "stream_response": False, "generation_config": {"max_new_tokens": 2}},
    )
    assert ok.status_code == 200


def test_a_client_that_leaves_mid_stream_stops_its_generation(http: httpx.Client, server_url: str) -> None:
    max_new_tokens = 200
    body = {
        "request_id": "leaver",
        "prompt": SEED_PROMPT,
        "generation_config": {"do_sample": False, "max_new_tokens": max_new_tokens},
    }
    before = engine_stats(http)
    with (
        httpx.Client(base_url=server_url, timeout=60.0, headers=AUTH) as other,
        other.stream("POST", "/api/generate", json=body) as r,
    ):
        next(r.iter_text())
    stats = engine_stats(http)
    for _ in range(600):  # the abort reaches the engine between two steps: poll, with a bound
        if stats["num_running"] == 0:
            break
        threading.Event().wait(0.05)
        stats = engine_stats(http)
    assert stats["num_running"] == 0
    assert stats["num_generated_tokens"] - before["num_generated_tokens"] < max_new_tokens
    # The id is free again, and continues from what was sent.
    again = _generate(
        http, {**body, "stream_response": False, "generation_config": {"do_sample": False, "max_new_tokens": 4}}
    )
    assert again.status_code == 200 and int(again.headers["x-prompt-tokens"]) > 16


def test_a_non_streamed_call_whose_client_left_frees_its_request_id(http: httpx.Client, server_url: str) -> None:
    body = {
        "request_id": "left-early",
        "prompt": SEED_PROMPT,
        "stream_response": False,
        "generation_config": {"do_sample": False, "max_new_tokens": 300},
    }
    with httpx.Client(base_url=server_url, headers=AUTH, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/api/generate", json=body)
    stats = engine_stats(http)
    for _ in range(600):  # the server notices the disconnect and aborts: poll, with a bound
        if stats["num_running"] == 0:
            break
        threading.Event().wait(0.05)
        stats = engine_stats(http)
    again = _generate(http, {**body, "generation_config": {"do_sample": False, "max_new_tokens": 2}})
    assert again.status_code == 200  # not 409: the session was checked back in
    assert int(again.headers["X-Completion-Tokens"]) == 2
