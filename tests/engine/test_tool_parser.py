"""Tool calls read back from each family's real call texts, finished and streamed."""

from __future__ import annotations

import json

import pytest

from openmaas.engine.tools import (
    GENERIC,
    HERMES,
    LLAMA3,
    MISTRAL,
    ParsedMessage,
    ToolCall,
    ToolCallStream,
    ToolFormat,
    parse_tool_calls,
)

# Qwen 2.5's template documents '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';
# the two calls are the example of Qwen's function-calling guide.
HERMES_TWO_CALLS = (
    "<tool_call>\n"
    '{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n'
    "</tool_call>\n"
    "<tool_call>\n"
    '{"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", "date": "2024-10-01"}}\n'
    "</tool_call>"
)
TWO_CALLS = [
    ToolCall("get_current_temperature", '{"location": "San Francisco, CA, USA"}'),
    ToolCall("get_temperature_date", '{"location": "San Francisco, CA, USA", "date": "2024-10-01"}'),
]
# Llama 3.1's template: 'Respond in the format {"name": function name, "parameters": dictionary of
# argument name and its value}. Do not use variables.'
LLAMA3_TWO_CALLS = (
    '{"name": "get_current_temperature", "parameters": {"location": "San Francisco, CA, USA"}}\n'
    '{"name": "get_temperature_date", "parameters": {"location": "San Francisco, CA, USA", "date": "2024-10-01"}}'
)
# Mistral's (v3 tokenizer) '[TOOL_CALLS][{"name": ..., "arguments": {...}}]', ids as its template writes them.
MISTRAL_TWO_CALLS = (
    '[TOOL_CALLS][{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}, '
    '"id": "a1b2c3d4e"}, {"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", '
    '"date": "2024-10-01"}, "id": "f5g6h7i8j"}]'
)
# Mistral's newer layout (Mistral Small 3.2, Magistral): '[TOOL_CALLS]name[ARGS]{...}' per call.
MISTRAL_NAMED_TWO_CALLS = (
    '[TOOL_CALLS]get_current_temperature[ARGS]{"location": "San Francisco, CA, USA"}'
    '[TOOL_CALLS]get_temperature_date[ARGS]{"location": "San Francisco, CA, USA", "date": "2024-10-01"}'
)
GENERIC_TWO_CALLS = (
    '{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n'
    '{"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", "date": "2024-10-01"}}'
)

FAMILIES = [
    (HERMES, HERMES_TWO_CALLS),
    (LLAMA3, LLAMA3_TWO_CALLS),
    (MISTRAL, MISTRAL_TWO_CALLS),
    (MISTRAL, MISTRAL_NAMED_TWO_CALLS),
    (GENERIC, GENERIC_TWO_CALLS),
]
IDS = ["hermes", "llama3", "mistral", "mistral-named", "generic"]


@pytest.mark.parametrize(("fmt", "text"), FAMILIES, ids=IDS)
def test_two_calls_in_one_message(fmt: ToolFormat, text: str) -> None:
    assert parse_tool_calls(text, fmt) == ParsedMessage(None, TWO_CALLS)


@pytest.mark.parametrize(("fmt", "text"), FAMILIES, ids=IDS)
def test_text_before_a_call_stays_content(fmt: ToolFormat, text: str) -> None:
    parsed = parse_tool_calls("Let me look that up.\n\n" + text, fmt)
    assert parsed == ParsedMessage("Let me look that up.", TWO_CALLS)


@pytest.mark.parametrize(("fmt", "text"), FAMILIES, ids=IDS)
def test_arguments_are_the_model_s_json_text(fmt: ToolFormat, text: str) -> None:
    for call in parse_tool_calls(text, fmt).calls:
        assert isinstance(json.loads(call.arguments), dict)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (HERMES, "Use <tool_call> tags to call tools."),
        (HERMES, '<tool_call>\n{"name": "f", "arguments": {"a": 1}'),  # cut off
        (HERMES, '<tool_call>\n{"arguments": {"a": 1}}\n</tool_call>'),  # no name
        (LLAMA3, 'The config is {"name": "server", "port": 80}.'),  # JSON, but no parameters
        (GENERIC, "Sets are written {1, 2, 3} in math."),
        (GENERIC, '{"name": "f", "arguments": [1, 2]}'),  # arguments must be an object
        (MISTRAL, "[TOOL_CALLS] is the marker Mistral uses."),
    ],
)
def test_text_that_is_not_a_call_stays_content(fmt: ToolFormat, text: str) -> None:
    assert parse_tool_calls(text, fmt) == ParsedMessage(text.strip(), [])


def test_plain_answer_has_no_calls() -> None:
    assert parse_tool_calls("  The weather is fine.\n", GENERIC) == ParsedMessage("The weather is fine.", [])


def test_calls_are_found_in_any_key_order_and_spacing() -> None:
    text = '{ "arguments" : {"x": "}"} , "name" : "f" }'
    assert parse_tool_calls(text, GENERIC).calls == [ToolCall("f", '{"x": "}"}')]


def test_arguments_written_as_a_json_string() -> None:
    text = '<tool_call>\n{"name": "f", "arguments": "{\\"x\\": 1}"}\n</tool_call>'
    assert parse_tool_calls(text, HERMES).calls == [ToolCall("f", '{"x": 1}')]


def test_a_call_nested_in_other_json_is_found() -> None:
    parsed = parse_tool_calls('{"tool_call": {"name": "f", "arguments": {}}}', GENERIC)
    assert parsed.calls == [ToolCall("f", "{}")]


def _stream(fmt: ToolFormat, pieces: list[str]) -> tuple[str | None, list[ToolCall], list[int]]:
    """The content and calls a stream's deltas add up to, and how many deltas each call had."""
    stream = ToolCallStream(fmt)
    deltas = [stream.push(piece) for piece in pieces] + [stream.finish()]
    content = "".join(d.content for d in deltas)
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    counts: dict[int, int] = {}
    for delta in deltas:
        for call in delta.calls:
            if call.name is not None:
                assert call.index not in names, "only a call's first delta carries its name"
                names[call.index] = call.name
            assert call.index in names, "a call's first delta carries its name"
            arguments[call.index] = arguments.get(call.index, "") + call.arguments
            counts[call.index] = counts.get(call.index, 0) + 1
    calls = [ToolCall(names[i], arguments[i]) for i in sorted(names)]
    return content or None, calls, [counts[i] for i in sorted(counts)]


@pytest.mark.parametrize(("fmt", "text"), FAMILIES, ids=IDS)
@pytest.mark.parametrize("size", [1, 3, 7])
def test_streamed_deltas_add_up_to_the_finished_message(fmt: ToolFormat, text: str, size: int) -> None:
    text = "Checking both.\n" + text + "\nDone."
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    content, calls, _ = _stream(fmt, pieces)
    finished = parse_tool_calls(text, fmt)
    assert (content, calls) == (finished.content, finished.calls)
    assert calls == TWO_CALLS


def test_streamed_arguments_arrive_in_pieces() -> None:
    _, calls, counts = _stream(HERMES, list(HERMES_TWO_CALLS))
    assert calls == TWO_CALLS
    assert all(count > 5 for count in counts)


def test_streamed_content_is_sent_before_the_text_ends() -> None:
    stream = ToolCallStream(HERMES)
    assert stream.push("The answer").content == "The answer"
    assert stream.push(" is <tool").content == " is"  # "<tool" could open a tag, the space waits for what follows
    assert stream.push("box>").content == " <toolbox>"


def test_streamed_text_that_turns_out_not_to_be_a_call_is_content() -> None:
    text = 'Use {"name": "x"} as the config.'
    content, calls, _ = _stream(GENERIC, list(text))
    assert (content, calls) == (text, [])
