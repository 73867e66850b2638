"""Grammars (llguidance's Lark dialect) that hold generation to a family's call syntax.

``required`` and a named function: the whole output is calls, each an exact
instance of its tool's parameter schema. ``auto``: free text until the model
writes the family's trigger (the text that opens a call), then the rest of
the call is held to the grammar: a lazy lexeme, as llama.cpp's server does
with grammar triggers. Either way every call a model makes parses and
validates against its schema.
"""

from __future__ import annotations

import json
from typing import Any

from openmaas.engine.sampling_params import StructuredSpec
from openmaas.engine.tools.formats import ToolFormat
from openmaas.engine.tools.spec import ToolChoice, ToolSpec, ToolUse

# The JSON layout of arguments: the one structured.py uses for response_format
# (compact separators, no free whitespace, unsupported keywords refused).
_JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": False,
}
_GUIDANCE_KEY = "x-guidance"


def required_grammar(tool_use: ToolUse, fmt: ToolFormat) -> str:
    """Calls only: one, or with parallel calls allowed, one or more."""
    rules = _call_rules(tool_use.callable_tools, fmt)
    calls = f"call ({_lit(fmt.separator)} call)*" if tool_use.parallel else "call"
    start = f"start: {_lit(fmt.list_prefix)} {calls} {_lit(fmt.list_suffix)}"
    return "\n".join([start, *rules]) + "\n"


def auto_grammar(tool_use: ToolUse, fmt: ToolFormat) -> str:
    """Free text, or free text then calls once the model writes the trigger (and nothing after them)."""
    trigger = fmt.trigger
    tools = tool_use.callable_tools
    # After the trigger: the rest of the first call (its name onwards), then any further calls.
    tails = []
    for index, tool in enumerate(tools):
        name_rest = json.dumps(tool.name, ensure_ascii=False)[1:]  # the opening quote is in the trigger
        tails.append(
            f"tail_{index}: {_lit(name_rest + f', {_lit_key(fmt)}: ')} {_json(tool)} {_lit('}' + fmt.call_suffix)}"
        )
    more = f"({_lit(fmt.separator)} call)*" if tool_use.parallel else ""
    lines = [
        "%llguidance {}",
        "start: TEXT | calls",
        "TEXT: /(.|\\n)*/",
        f"trigger[lazy]: TEXT {_lit(trigger)}",
        f"calls: trigger tail {more} {_lit(fmt.list_suffix)}",
        "tail: " + " | ".join(f"tail_{i}" for i in range(len(tools))),
        *tails,
        *_call_rules(tools, fmt),
    ]
    return "\n".join(lines) + "\n"


def _call_rules(tools: tuple[ToolSpec, ...], fmt: ToolFormat) -> list[str]:
    rules = ["call: " + " | ".join(f"call_{i}" for i in range(len(tools)))]
    for index, tool in enumerate(tools):
        head = f'{fmt.call_prefix}{{"name": {json.dumps(tool.name, ensure_ascii=False)}, {_lit_key(fmt)}: '
        rules.append(f"call_{index}: {_lit(head)} {_json(tool)} {_lit('}' + fmt.call_suffix)}")
    return rules


def _lit_key(fmt: ToolFormat) -> str:
    return json.dumps(fmt.args_key)


def _json(tool: ToolSpec) -> str:
    schema = {k: v for k, v in tool.parameters.items() if k != _GUIDANCE_KEY}
    # Arguments the function does not declare are useless to it, and small models, free to add keys,
    # go on inventing them until max_tokens. A schema that allows them keeps them allowed.
    schema.setdefault("additionalProperties", False)
    schema[_GUIDANCE_KEY] = _JSON_OPTIONS
    return "%json " + json.dumps(schema, ensure_ascii=False)


def _lit(text: str) -> str:
    """A Lark string literal ("" stands for nothing)."""
    return json.dumps(text, ensure_ascii=False) if text else ""


def tool_grammar_spec(tool_use: ToolUse, fmt: ToolFormat) -> StructuredSpec | None:
    """The constraint a request's tool choice puts on its output (None: the output is free)."""
    if tool_use.is_constrained:
        return StructuredSpec("lark", grammar=required_grammar(tool_use, fmt), param="tools")
    if tool_use.choice is ToolChoice.AUTO:
        return StructuredSpec("lark", grammar=auto_grammar(tool_use, fmt), param="tools")
    return None
