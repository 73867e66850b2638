"""Tool calling on the chat path: a request's tools as the engine's, and calls back in OpenAI's shapes.

``ChatTools`` holds what one chat call needs: the request's ``ToolUse``, the
model's call format, and whether calls are read back from the output at all
(not with ``tool_choice: "none"``). Calls become ``message.tool_calls`` with
``finish_reason: "tool_calls"``; streamed, OpenAI's tool-call deltas (the
first delta of a call carries its ``id``, ``type`` and name, later ones
pieces of its arguments).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from openmaas.engine import (
    EngineClient,
    SamplingParams,
    StreamDelta,
    ToolCall,
    ToolCallStream,
    ToolChoice,
    ToolUse,
    parse_tool_calls,
    tool_grammar_spec,
)

TOOL_CALLS_REASON = "tool_calls"


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ChatTools:
    """One chat call's tools: the constraint on its output and the reading of its calls."""

    def __init__(self, tool_use: ToolUse | None, engine: EngineClient, *, has_response_format: bool) -> None:
        self.tool_use = tool_use
        self._format = engine.chat_template.tool_format
        self.parses_calls = tool_use is not None and tool_use.choice is not ToolChoice.NONE
        # A response_format and a model free to answer in text: the answer's format wins, calls are
        # still read from the text. A required call is always held to the call syntax.
        self._constrains = tool_use is not None and (tool_use.is_constrained or not has_response_format)
        self._constrains_from_start = tool_use is not None and tool_use.is_constrained

    def sampling_params(self, params: SamplingParams) -> SamplingParams:
        """params with the tool grammar, if the tool choice asks for one."""
        if self.tool_use is None or not self._constrains:
            return params
        spec = tool_grammar_spec(self.tool_use, self._format)
        return params if spec is None else dataclasses.replace(params, structured=spec)

    @property
    def max_calls(self) -> int | None:
        """At most one call unless parallel calls are allowed."""
        return None if self.tool_use is None or self.tool_use.parallel else 1

    def message(self, text: str, finish_reason: str | None) -> tuple[dict[str, Any], str | None]:
        """A finished choice's message and finish reason."""
        if not self.parses_calls:
            return {"role": "assistant", "content": text}, finish_reason
        parsed = parse_tool_calls(text, self._format)
        calls = parsed.calls[: self.max_calls]
        if not calls:
            return {"role": "assistant", "content": text}, finish_reason
        # A required call's output is calls only: what else there is, is a call cut short by max_tokens.
        content = None if self._constrains_from_start else parsed.content
        message = {"role": "assistant", "content": content, "tool_calls": [_call_dict(c) for c in calls]}
        return message, TOOL_CALLS_REASON if finish_reason == "stop" else finish_reason

    def stream(self) -> ChoiceToolStream:
        return ChoiceToolStream(ToolCallStream(self._format), self.max_calls)


class ChoiceToolStream:
    """One streamed choice's text turned into OpenAI deltas (content and tool calls)."""

    def __init__(self, stream: ToolCallStream, max_calls: int | None) -> None:
        self._stream = stream
        self._max_calls = max_calls
        self._ids: dict[int, str] = {}

    def push(self, text: str) -> dict[str, Any] | None:
        return self._delta(self._stream.push(text))

    def finish(self, finish_reason: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """The last delta, if any, and the choice's finish reason."""
        delta = self._delta(self._stream.finish())
        has_calls = self._stream.num_calls > 0
        return delta, TOOL_CALLS_REASON if has_calls and finish_reason == "stop" else finish_reason

    def _delta(self, delta: StreamDelta) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if delta.content:
            out["content"] = delta.content
        calls = []
        for piece in delta.calls:
            if self._max_calls is not None and piece.index >= self._max_calls:
                continue
            if piece.name is not None:
                call_id = self._ids.setdefault(piece.index, new_call_id())
                function = {"name": piece.name, "arguments": piece.arguments}
                calls.append({"index": piece.index, "id": call_id, "type": "function", "function": function})
            else:
                calls.append({"index": piece.index, "function": {"arguments": piece.arguments}})
        if calls:
            out["tool_calls"] = calls
        return out or None


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"id": new_call_id(), "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
