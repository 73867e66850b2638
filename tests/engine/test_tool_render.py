"""Conversations with tools as chat templates get them: natively, or in the generic format."""

from __future__ import annotations

import json
from typing import Any

from openmaas.engine.chat_template import select_chat_template
from openmaas.engine.tools import GENERIC, HERMES, LLAMA3, MISTRAL, ToolChoice, ToolSpec, ToolUse, format_for_template

WEATHER = ToolSpec(
    "get_weather",
    "The current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
]
# The tool parts of Qwen 2.5's template, as its GGUF carries it (abridged to what differs per message).
HERMES_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n# Tools\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools>\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call>"
    ' XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant"
    "{%- for tool_call in message.tool_calls %}{%- set tool_call = tool_call.function %}\n<tool_call>\n"
    '{"name": "{{ tool_call.name }}", "arguments": {{ tool_call.arguments | tojson }}}\n</tool_call>'
    "{%- endfor %}<|im_end|>\n"
    "{%- elif message.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response>"
    "<|im_end|>\n"
    "{%- else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


def test_formats_are_recognised_from_the_template_source() -> None:
    assert format_for_template(HERMES_TEMPLATE) is HERMES
    assert format_for_template("{{ '[AVAILABLE_TOOLS]' }}{{ '[TOOL_CALLS]' }}") is MISTRAL
    llama = '<|start_header_id|>{% if tools %}Respond in the format {"name": function name, "parameters": ...}'
    assert format_for_template(llama) is LLAMA3
    assert format_for_template("<|start_header_id|>{{ messages }}") is GENERIC
    assert select_chat_template(None, "gemma3", bos_token="<bos>", eos_token="<eos>").tool_format is GENERIC


def test_a_native_template_gets_tools_and_calls_as_objects() -> None:
    template = select_chat_template(HERMES_TEMPLATE, "qwen2", bos_token="", eos_token="<|im_end|>")
    rendered = template.render(CONVERSATION, tools=ToolUse((WEATHER,)))
    assert json.dumps(WEATHER.as_template_dict()) in rendered
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in rendered
    assert "<tool_response>\n18 C, sunny\n</tool_response>" in rendered
    # Hugging Face's tojson: no HTML escaping of what a model reads.
    assert "\\u003c" not in template.render([{"role": "user", "content": "x"}], tools=ToolUse((ToolSpec("a<b"),)))


def test_a_template_without_tools_gets_the_generic_format() -> None:
    template = select_chat_template(None, "gemma3", bos_token="<bos>", eos_token="<eos>")
    rendered = template.render(CONVERSATION, tools=ToolUse((WEATHER,), ToolChoice.REQUIRED))
    # The tools and the format are described in the first user turn (Gemma folds the system message there).
    assert rendered.startswith("<bos><start_of_turn>user\nYou have access to these functions")
    assert json.dumps(WEATHER.as_template_dict()["function"]) in rendered
    assert "You must call a function now." in rendered
    # The earlier call in the format, and its result as a user turn: roles still alternate.
    assert '<start_of_turn>model\n{"name": "get_weather", "arguments": {"city": "Paris"}}<end_of_turn>' in rendered
    result = json.dumps({"tool_response": {"name": "get_weather", "content": "18 C, sunny"}})
    assert rendered.endswith(f"<start_of_turn>user\n{result}<end_of_turn>\n<start_of_turn>model\n")


def test_tool_results_and_a_user_turn_in_a_row_are_merged() -> None:
    template = select_chat_template(None, "gemma3", bos_token="<bos>", eos_token="<eos>")
    rendered = template.render([*CONVERSATION, {"role": "user", "content": "And tomorrow?"}])
    assert rendered.endswith('18 C, sunny"}}\n\nAnd tomorrow?<end_of_turn>\n<start_of_turn>model\n')
