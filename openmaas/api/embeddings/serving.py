"""EmbeddingsServing: OpenAI's embeddings requests in, the engine's vectors out.

A call is checked like any inference call (the key may use the model, its inputs
fit, the model's queue has room), computed by the engine in batches shared with
other calls, and metered: its prompt tokens become the call's usage row, priced
and counted against the key's quotas as any call's are.
"""

from __future__ import annotations

import base64
import logging

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse

from openmaas.api.context import current_request
from openmaas.api.embeddings.protocol import EmbeddingRequest
from openmaas.api.metering import Metrics
from openmaas.api.sse import ClientDisconnected, until_disconnected
from openmaas.engine import EngineClient
from openmaas.errors import InvalidRequest, OpenmaasError
from openmaas.fleet.fleet import ModelFleet

logger = logging.getLogger(__name__)

DIALECT = "openai"


class EmbeddingsServing:
    """POST /v1/embeddings (and a deployment's), over a ModelFleet."""

    def __init__(self, fleet: ModelFleet, metrics: Metrics) -> None:
        self._fleet = fleet
        self._metrics = metrics

    async def create(self, body: EmbeddingRequest, http: Request) -> JSONResponse:
        current_request().check_model(self._fleet.entry(body.model).source.names)
        lease = await self._fleet.acquire(body.model)
        try:
            return await self._create(lease.served.source.model_id, lease.served.engine, body, http)
        finally:
            lease.release()

    async def _create(self, model_id: str, engine: EngineClient, body: EmbeddingRequest, http: Request) -> JSONResponse:
        inputs = [_tokens(engine, item) for item in body.texts_or_tokens()]
        engine.check_embedding_inputs(inputs)
        size = engine.model_info.n_embd
        if body.dimensions is not None and body.dimensions != size:
            raise InvalidRequest(
                f"the model '{body.model}' gives {size}-dimensional embeddings and cannot shorten them; "
                f"leave out dimensions or send {size}",
                param="dimensions",
            )
        num_tokens = sum(len(tokens) for tokens in inputs)
        # The same queue caps as generation: refused with 429 queue_full before any work starts.
        admission = engine.admit(len(inputs), num_tokens)
        # The call's usage is its prompt tokens, known now; recorded like any call's.
        account = self._metrics.meter(model_id, DIALECT, [num_tokens])
        try:
            vectors = await until_disconnected(http, engine.embed(inputs))
        except OpenmaasError as exc:
            account.finish("cancelled" if isinstance(exc, ClientDisconnected) else exc.code)
            raise
        finally:
            admission.release()
        await account.settle("ok")
        encode = _base64 if body.encoding_format == "base64" else _floats
        return JSONResponse(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
                "model": body.model,
                "usage": {"prompt_tokens": num_tokens, "total_tokens": num_tokens},
            }
        )


def _tokens(engine: EngineClient, item: str | list[int]) -> list[int]:
    """A text is tokenized as llama.cpp's embedding tools do (BOS added, special tokens as text)."""
    if isinstance(item, str):
        return engine.tokenize(item, add_special=True, parse_special=False)
    return item


def _floats(vector: np.ndarray) -> list[float]:
    values: list[float] = vector.tolist()
    return values


def _base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes, as OpenAI's SDKs decode them."""
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
