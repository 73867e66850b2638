"""The inference engine: continuous batching over llama.cpp.

The public names below are all that the layers above may use. The engine
imports none of those layers: only the standard library, numpy, jinja2 (chat
templates), ``openmaas.errors``, and llama_cpp in ``runners/llama_cpp.py``.
"""

from openmaas.engine.client import EngineClient
from openmaas.engine.config import EngineConfig
from openmaas.engine.logprobs import TokenLogprob
from openmaas.engine.messages import EngineOutput, EngineStats, FinishReason
from openmaas.engine.sampling_params import SamplingParams, StructuredSpec

__all__ = [
    "EngineClient",
    "EngineConfig",
    "EngineOutput",
    "EngineStats",
    "FinishReason",
    "SamplingParams",
    "StructuredSpec",
    "TokenLogprob",
]
