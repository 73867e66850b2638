"""Tool calling: call formats per model family, the conversation renderer, the call parser and grammars.

- ``spec.py``: the request's tools (``ToolSpec``, ``ToolUse``, ``ToolChoice``) and calls (``ToolCall``).
- ``formats.py``: ``ToolFormat`` and the registry that picks one from a chat template's source.
- ``render.py``: the conversation and ``tools`` variable a chat template is given.
- ``parser.py``: calls read back from a finished message; ``stream.py``: the same as deltas.
- ``grammar.py``: the grammars that hold ``required``, named and ``auto`` calls to the format.
"""

from openmaas.engine.tools.formats import GENERIC, HERMES, LLAMA3, MISTRAL, ToolFormat, format_for_template
from openmaas.engine.tools.grammar import tool_grammar_spec
from openmaas.engine.tools.parser import ParsedMessage, parse_tool_calls
from openmaas.engine.tools.spec import ToolCall, ToolChoice, ToolSpec, ToolUse
from openmaas.engine.tools.stream import StreamDelta, ToolCallDelta, ToolCallStream

__all__ = [
    "GENERIC",
    "HERMES",
    "LLAMA3",
    "MISTRAL",
    "ParsedMessage",
    "StreamDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStream",
    "ToolChoice",
    "ToolFormat",
    "ToolSpec",
    "ToolUse",
    "format_for_template",
    "parse_tool_calls",
    "tool_grammar_spec",
]
