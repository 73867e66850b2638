"""Tool calling over HTTP on the bundled model: always-valid required and named calls, streamed deltas,
conversations with tool messages, every dialect, and the errors."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jsonschema
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion

from tests.api.conftest import MODEL

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 16},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"hours_ahead": {"type": "integer", "minimum": 0, "maximum": 48}},
    "required": ["hours_ahead"],
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Current weather in a city", "parameters": WEATHER_SCHEMA},
    },
    {"type": "function", "function": {"name": "get_time", "description": "The time", "parameters": TIME_SCHEMA}},
]
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
NAMED = {"type": "function", "function": {"name": "get_time"}}
NUM_SEEDED = 20


def request_fields(seed: int, tool_choice: Any, **fields: Any) -> dict[str, Any]:
    """The tool request every test here sends, at temperature 1 with its own seed; fields override."""
    return {
        "model": MODEL,
        "messages": ASK,
        "tools": TOOLS,
        "tool_choice": tool_choice,
        "temperature": 1,
        "seed": seed,
        "max_tokens": 48,
        **fields,
    }


def ask(client: OpenAI, seed: int, tool_choice: Any, **fields: Any) -> ChatCompletion:
    response: ChatCompletion = client.chat.completions.create(**request_fields(seed, tool_choice, **fields))
    return response


def calls_of(response: ChatCompletion) -> list[tuple[str, str]]:
    return [(c.function.name, c.function.arguments) for c in response.choices[0].message.tool_calls or []]  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize(("tool_choice", "names"), [("required", set(SCHEMAS)), (NAMED, {"get_time"})])
def test_required_and_named_calls_always_parse_and_validate_at_temperature_1(
    client: OpenAI, tool_choice: Any, names: set[str]
) -> None:
    # Sent together, the requests share engine steps.
    with ThreadPoolExecutor(NUM_SEEDED) as pool:
        responses = list(
            pool.map(lambda seed: ask(client, seed, tool_choice, parallel_tool_calls=False), range(NUM_SEEDED))
        )
    for response in responses:
        (choice,) = response.choices
        assert choice.finish_reason == "tool_calls", choice
        calls = calls_of(response)
        assert len(calls) == 1  # parallel_tool_calls: false
        (tool_call,) = choice.message.tool_calls or []
        assert tool_call.type == "function" and tool_call.id.startswith("call_")
        name, arguments = calls[0]
        assert name in names
        jsonschema.validate(json.loads(arguments), SCHEMAS[name])
    # Different seeds: not twenty copies of one answer.
    assert len({calls_of(r)[0] for r in responses}) > 1


def stream_calls(client: OpenAI, seed: int, tool_choice: Any, **fields: Any) -> tuple[list[tuple[str, str]], str]:
    """The calls a stream's deltas add up to, checked to follow OpenAI's delta rules, and its finish reason."""
    stream = client.chat.completions.create(**request_fields(seed, tool_choice, stream=True, **fields))
    names: dict[int, str] = {}
    arguments: dict[int, list[str]] = {}
    finish_reason = ""
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                if delta.index not in names:
                    # The first delta of a call: its id, type and name.
                    assert delta.id and delta.type == "function" and delta.function and delta.function.name
                    names[delta.index] = delta.function.name
                else:
                    assert delta.id is None and (delta.function is None or delta.function.name is None)
                piece = delta.function.arguments if delta.function else None
                arguments.setdefault(delta.index, []).append(piece or "")
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    assert all(len(pieces) > 1 for pieces in arguments.values()), "arguments arrive in pieces"
    return [(names[i], "".join(arguments[i])) for i in sorted(names)], finish_reason


@pytest.mark.parametrize("tool_choice", ["required", NAMED])
def test_streamed_deltas_reassemble_into_the_non_streamed_calls(client: OpenAI, tool_choice: Any) -> None:
    for seed in (1, 2):
        whole = ask(client, seed, tool_choice)
        calls, finish_reason = stream_calls(client, seed, tool_choice)
        assert calls == calls_of(whole)
        assert finish_reason == whole.choices[0].finish_reason == "tool_calls"


def test_parallel_calls_off_never_gives_two_calls_even_streamed(client: OpenAI) -> None:
    for seed in range(3):
        calls, _ = stream_calls(client, seed, "required", parallel_tool_calls=False)
        assert len(calls) == 1


def test_auto_answers_with_text_or_valid_calls(client: OpenAI) -> None:
    for seed in range(3):
        response = ask(client, seed, "auto")
        choice = response.choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            for name, arguments in calls_of(response):
                jsonschema.validate(json.loads(arguments), SCHEMAS[name])
        else:
            assert choice.message.content is not None


# After one call and its result, the model tends to call again: auto lets it, and holds the call to the schema.
FOLLOW_UP: list[Any] = [
    *ASK,
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 18}'},
    {"role": "user", "content": "And in Rome?"},
]


def test_auto_calls_the_model_starts_are_valid_and_stream_alike(client: OpenAI) -> None:
    num_calls = 0
    for seed in range(3):
        whole = client.chat.completions.create(
            model=MODEL, messages=FOLLOW_UP, tools=TOOLS, temperature=1, seed=seed, max_tokens=48
        )
        for name, arguments in calls_of(whole):
            jsonschema.validate(json.loads(arguments), SCHEMAS[name])
            num_calls += 1
        if whole.choices[0].message.tool_calls:
            assert whole.choices[0].finish_reason == "tool_calls"
            stream = client.chat.completions.create(
                model=MODEL, messages=FOLLOW_UP, tools=TOOLS, temperature=1, seed=seed, max_tokens=48, stream=True
            )
            pieces: dict[int, list[str]] = {}
            for chunk in stream:
                for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                    if delta.function and delta.function.name:
                        pieces[delta.index] = [delta.function.name, ""]
                    pieces[delta.index][1] += (delta.function.arguments if delta.function else None) or ""
            assert [tuple(p) for _, p in sorted(pieces.items())] == calls_of(whole)
    assert num_calls > 0


def test_tool_choice_none_answers_in_text(client: OpenAI) -> None:
    response = ask(client, 0, "none", max_tokens=8)
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason in ("stop", "length")


def test_a_conversation_with_a_call_and_its_result_gets_an_answer(client: OpenAI) -> None:
    first = ask(client, 3, "required", parallel_tool_calls=False)
    message = first.choices[0].message
    (tool_call,) = message.tool_calls or []
    messages: list[Any] = [
        *ASK,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tool_call.id, "content": '{"temperature": 18, "sky": "clear"}'},
        # Two turns of one role in a row: merged for a template that needs alternation, not refused.
        {"role": "user", "content": "Answer in one sentence."},
        {"role": "user", "content": "Please."},
    ]
    answer = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0
    )
    assert answer.choices[0].message.content
    assert answer.choices[0].message.tool_calls is None


def test_the_portal_dialect_returns_calls_in_its_envelope(http: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": ASK,
        "tools": TOOLS,
        "toolChoice": NAMED,
        "parallelToolCalls": False,
        "maxTokens": 48,
        "seed": 4,
    }
    response = http.post("/api/v1/ai/chat/completions", json=body)
    assert response.status_code == 200, response.text
    (choice,) = response.json()["data"]["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_time"
    jsonschema.validate(json.loads(call["function"]["arguments"]), TIME_SCHEMA)


def test_a_deployment_route_returns_calls(http: httpx.Client) -> None:
    body = {"messages": ASK, "tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False, "max_tokens": 48}
    response = http.post("/plain/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    (choice,) = response.json()["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[call["function"]["name"]])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "launch"}}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools.0.function.name"),
        ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools.0.function.name"),
        ({"tools": [{"type": "retrieval"}]}, "tools.0.type"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]}, "tools"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools"),
        ({"tools": "get_weather"}, "tools"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "object", "minProperties": "x"}},
                    }
                ],
                "tool_choice": "required",
            },
            "tools",
        ),
    ],
)
def test_bad_tools_are_a_400_naming_the_field(http: httpx.Client, fields: dict[str, Any], param: str) -> None:
    response = http.post("/v1/chat/completions", json={"model": MODEL, "messages": ASK, "max_tokens": 4, **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
