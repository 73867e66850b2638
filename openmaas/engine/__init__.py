"""The inference engine: continuous batching over llama.cpp.

The public names below are all that the layers above may use. The engine
imports none of those layers: only the standard library, numpy, jinja2 (chat
templates), llguidance (structured output), ``openmaas.errors``, and llama_cpp
in ``runners/llama_cpp.py``.
"""

from openmaas.engine.admission import Admission
from openmaas.engine.client import EngineClient
from openmaas.engine.config import EngineConfig
from openmaas.engine.logprobs import MAX_TOP_LOGPROBS, TokenLogprob
from openmaas.engine.messages import EngineOutput, EngineStats, FinishReason
from openmaas.engine.sampling_params import SamplingParams, StructuredSpec
from openmaas.engine.tools import (
    StreamDelta,
    ToolCall,
    ToolCallStream,
    ToolChoice,
    ToolSpec,
    ToolUse,
    parse_tool_calls,
    tool_grammar_spec,
)

__all__ = [
    "Admission",
    "EngineClient",
    "EngineConfig",
    "EngineOutput",
    "EngineStats",
    "FinishReason",
    "MAX_TOP_LOGPROBS",
    "SamplingParams",
    "StreamDelta",
    "StructuredSpec",
    "TokenLogprob",
    "ToolCall",
    "ToolCallStream",
    "ToolChoice",
    "ToolSpec",
    "ToolUse",
    "parse_tool_calls",
    "tool_grammar_spec",
]
