"""The inference engine: continuous batching over llama.cpp.

The public names below are all that the layers above may use; the engine
imports nothing from them (stdlib, numpy and ``openmaas.errors`` only).
"""

from openmaas.engine.client import EngineClient
from openmaas.engine.config import EngineConfig
from openmaas.engine.messages import EngineOutput, EngineStats, FinishReason
from openmaas.engine.sampling_params import SamplingParams

__all__ = ["EngineClient", "EngineConfig", "EngineOutput", "EngineStats", "FinishReason", "SamplingParams"]
