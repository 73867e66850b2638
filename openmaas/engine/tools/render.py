"""Prepares a conversation with tools for a chat template.

A template of a family that knows tools (its format is native) gets them the
Hugging Face way: the ``tools`` variable, assistant messages with
``tool_calls`` (arguments as objects) and ``tool`` messages. Any other
template gets the generic treatment, as llama.cpp's server and Ollama give
such models: the tools and the call format are described in the system
message, earlier calls are written into the assistant's text in that format,
and tool results become user turns. Templates that insist on alternating
roles get consecutive messages of one role merged into one.
"""

from __future__ import annotations

import json
from typing import Any

from openmaas.engine.tools.formats import ToolFormat
from openmaas.engine.tools.spec import ToolCall, ToolChoice, ToolUse

_MERGEABLE_ROLES = ("system", "user", "assistant")


def prepare_conversation(
    messages: list[dict[str, Any]], tool_use: ToolUse | None, fmt: ToolFormat, *, requires_alternation: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The messages to render and the value of the template's ``tools`` variable."""
    if fmt.is_native:
        prepared = [_native_message(m) for m in messages]
        tools = [tool.as_template_dict() for tool in tool_use.tools] if tool_use else None
    else:
        prepared = _generic_messages(messages, tool_use, fmt)
        tools = None
    if requires_alternation:
        prepared = merge_consecutive(prepared)
    return prepared, tools


def merge_consecutive(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive system, user or assistant messages merged into one (contents joined by a blank line)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        previous = merged[-1] if merged else None
        if previous is not None and previous["role"] == message["role"] and message["role"] in _MERGEABLE_ROLES:
            combined = dict(previous)
            texts = [t for t in (previous.get("content"), message.get("content")) if t]
            combined["content"] = "\n\n".join(texts)
            calls = list(previous.get("tool_calls") or []) + list(message.get("tool_calls") or [])
            if calls:
                combined["tool_calls"] = calls
            merged[-1] = combined
        else:
            merged.append(message)
    return merged


def _native_message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if not calls:
        return message
    # Templates write arguments with `| tojson`: they expect objects, as Hugging Face's convention has them.
    converted = []
    for call in calls:
        function = dict(call["function"])
        function["arguments"] = _as_object(function["arguments"])
        converted.append({**call, "function": function})
    return {**message, "tool_calls": converted}


def _as_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _generic_messages(
    messages: list[dict[str, Any]], tool_use: ToolUse | None, fmt: ToolFormat
) -> list[dict[str, Any]]:
    names_by_id: dict[str, str] = {}
    prepared: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        content = message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call["function"]
                arguments = function["arguments"]
                text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
                calls.append(ToolCall(function["name"], text))
                if call.get("id"):
                    names_by_id[call["id"]] = function["name"]
            written = fmt.calls_text(calls)
            prepared.append({"role": "assistant", "content": f"{content}\n{written}" if content else written})
        elif role == "tool":
            name = message.get("name") or names_by_id.get(message.get("tool_call_id") or "", "")
            result = json.dumps({"tool_response": {"name": name, "content": content}}, ensure_ascii=False)
            prepared.append({"role": "user", "content": result})
        else:
            prepared.append({"role": role, "content": content})
    if tool_use is not None:
        instructions = _generic_instructions(tool_use, fmt)
        if prepared and prepared[0]["role"] == "system":
            prepared[0] = {"role": "system", "content": f"{prepared[0]['content']}\n\n{instructions}"}
        else:
            prepared.insert(0, {"role": "system", "content": instructions})
    return prepared


def _generic_instructions(tool_use: ToolUse, fmt: ToolFormat) -> str:
    described = "\n".join(
        json.dumps(tool.as_template_dict()["function"], ensure_ascii=False) for tool in tool_use.tools
    )
    lines = [
        "You have access to these functions (their arguments are described by JSON schemas):",
        described,
        "",
    ]
    example = fmt.call_text(ToolCall("function_name", '{"argument_name": "value"}'))
    if tool_use.choice is ToolChoice.NONE:
        lines.append("Do not call any function now: answer in plain text.")
        return "\n".join(lines)
    lines.append(f"To call a function, answer with a JSON object like this one, and nothing else:\n{example}")
    if tool_use.choice is ToolChoice.REQUIRED:
        lines.append("You must call a function now.")
    elif tool_use.choice is ToolChoice.FUNCTION:
        lines.append(f"You must call the function {tool_use.function} now.")
    else:
        lines.append("If no function is needed, answer in plain text.")
    return "\n".join(lines)
