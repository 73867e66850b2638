"""Tool-call formats: how each model family writes a call, and a registry that picks one per chat template.

A format says what text a call is: a JSON object ``{"name": ..., "<args_key>": {...}}``
between a prefix and a suffix (Hermes' ``<tool_call>`` tags), several calls
joined by a separator and possibly wrapped in a list (Mistral's
``[TOOL_CALLS][...]``). The parser reads calls back from that text, the
grammar builder writes it as a grammar, and the renderer writes earlier calls
into the conversation in it. A family is recognised from its chat template's
source, which names its markers; a template that names none gets the generic
format, in which the server itself tells the model how to call (as llama.cpp's
server and Ollama do for such models).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from openmaas.engine.tools.spec import ToolCall


@dataclass(frozen=True, slots=True)
class ToolFormat:
    """How one family writes tool calls (the layout its chat template documents)."""

    name: str
    # The key of the arguments object: "arguments", or Llama 3's "parameters".
    args_key: str
    # Around each call's JSON object.
    call_prefix: str = ""
    call_suffix: str = ""
    # Between two calls, and around the whole list of calls.
    separator: str = "\n"
    list_prefix: str = ""
    list_suffix: str = ""
    # Whether the family's template renders ``tools`` and tool messages itself;
    # otherwise the renderer describes the tools in a system message.
    is_native: bool = True

    @property
    def trigger(self) -> str:
        """The text that starts the calls: once a model writes it, the rest must be calls."""
        return self.list_prefix + self.call_prefix + '{"name": "'

    def call_text(self, call: ToolCall) -> str:
        """One call as the family writes it (without the list's prefix and suffix)."""
        name = json.dumps(call.name, ensure_ascii=False)
        return f'{self.call_prefix}{{"name": {name}, "{self.args_key}": {call.arguments}}}{self.call_suffix}'

    def calls_text(self, calls: list[ToolCall]) -> str:
        """Several calls as one message's text."""
        return self.list_prefix + self.separator.join(self.call_text(c) for c in calls) + self.list_suffix


# Hermes 2 Pro, Qwen 2.5, Qwen 3 and their fine-tunes: each call in its own tags,
# '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'.
HERMES = ToolFormat("hermes", "arguments", call_prefix="<tool_call>\n", call_suffix="\n</tool_call>")
# Llama 3.1 / 3.2 / 3.3 with custom tools: a bare JSON object,
# '{"name": function name, "parameters": dictionary of argument name and its value}'.
LLAMA3 = ToolFormat("llama3", "parameters")
# Mistral (v3 tokenizer and later): '[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]'.
MISTRAL = ToolFormat("mistral", "arguments", separator=", ", list_prefix="[TOOL_CALLS][", list_suffix="]")
# Models whose template knows no tools (the bundled Gemma 3 among them): one JSON object per call. No separator
# between calls: a newline after a call is so likely for a small model that it would chain calls until max_tokens.
GENERIC = ToolFormat("generic", "arguments", separator="", is_native=False)


@dataclass(frozen=True, slots=True)
class _Entry:
    format: ToolFormat
    matches: Callable[[str], bool]


_REGISTRY: list[_Entry] = []


def register_format(format: ToolFormat, matches: Callable[[str], bool]) -> None:
    """Adds a family: templates whose source matches use its format (the first match wins)."""
    _REGISTRY.append(_Entry(format, matches))


def registered_formats() -> list[ToolFormat]:
    return [entry.format for entry in _REGISTRY] + [GENERIC]


def format_for_template(source: str) -> ToolFormat:
    """The format a chat template's source documents; GENERIC when it documents none."""
    for entry in _REGISTRY:
        if entry.matches(source):
            return entry.format
    return GENERIC


def _is_llama3_with_tools(source: str) -> bool:
    # Llama 3.x templates with custom tools ask for '"parameters"' in their system text.
    return "<|start_header_id|>" in source and re.search(r"\btools\b", source) is not None and "parameters" in source


register_format(HERMES, lambda source: "<tool_call>" in source)
register_format(MISTRAL, lambda source: "[TOOL_CALLS]" in source)
register_format(LLAMA3, _is_llama3_with_tools)
