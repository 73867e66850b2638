"""RemoteEngineClient: the engine-client interface the API layer uses, generating on a Serve deployment.

The API layer keeps calling one EngineClient per model: tokenizing, chat templates and logprob
bytes run on a local *front* engine (the model's vocabulary, with the smallest KV cache the
engine allows and no requests), while ``validate``, ``generate`` and ``embed`` go to the model's
replicas through a DeploymentHandle (generate streamed), so the replicas' settings decide. A
request for a model at zero replicas waits for the first one (a cold start) in ``prepare``,
before any answer starts, bounded by the request's timeout (else OPENMAAS_RAY_COLD_START_TIMEOUT):
past it, 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import numpy as np
from ray.exceptions import RayError
from ray.serve.exceptions import BackPressureError, RayServeException
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from openmaas.api.context import current_request
from openmaas.engine import Admission, EngineClient, EngineConfig, EngineOutput, SamplingParams
from openmaas.errors import EngineFailed, OpenmaasError, Overloaded, QueueFull, ShuttingDown

logger = logging.getLogger(__name__)

# Retry-After (seconds) of a 503 for a model whose first replica is still starting.
COLD_START_RETRY_AFTER = 5.0
# Retry-After (seconds) of a 429 when the model's replicas and their queue are full.
BACKPRESSURE_RETRY_AFTER = 2.0


def front_config(config: EngineConfig) -> EngineConfig:
    """The front engine's config: the model's context (tokenizing checks a prompt's bytes against it),
    the fewest sequence slots and one thread, since it never generates nor validates."""
    return dataclasses.replace(
        config,
        max_num_seqs=1,
        num_cache_slots=1,
        max_num_batched_tokens=1 + config.prefill_chunk_size,
        num_threads=1,
    )


class RemoteEngineClient(EngineClient):
    """An EngineClient whose requests run on a model's Serve replicas (see the module's docstring)."""

    def __init__(
        self,
        model_id: str,
        config: EngineConfig,
        handle: DeploymentHandle[Any],
        *,
        cold_start_timeout: float,
        check_invariants: bool = False,
    ) -> None:
        super().__init__(front_config(config), check_invariants=check_invariants)
        # What the API layer reads (max_model_len, max_num_seqs) is the model's, not the front's.
        self.config = config
        self.model_id = model_id
        self._handle = handle
        self._streaming = handle.options(stream=True)
        self._cold_start_timeout = cold_start_timeout
        self._is_remote_accepting = True

    # Admission: the replicas' queues decide; the front only checks the call's size ---------------
    def admit(self, num_requests: int, num_prompt_tokens: int, *, tenant: str = "") -> Admission:
        if not self._is_remote_accepting:
            raise ShuttingDown("the server is shutting down; retry on another replica", retry_after=5)
        self.check_call_size(num_requests)
        # Nothing is reserved here: each request is admitted by the replica that runs it.
        return Admission(_nothing_to_give_back, num_requests, num_prompt_tokens, tenant=tenant)

    def stop_accepting(self) -> None:
        self._is_remote_accepting = False
        super().stop_accepting()

    async def prepare(self, params: SamplingParams) -> None:
        """Waits for a replica of the model to serve (a cold start), within the request's timeout."""
        timeout = current_request().timeout
        limit = self._cold_start_timeout if timeout is None else min(timeout, self._cold_start_timeout)
        start = time.monotonic()
        try:
            replica_id = await asyncio.wait_for(_awaited(self._handle.ready.remote()), limit)
        except TimeoutError:
            raise Overloaded(
                f"The model '{self.model_id}' is starting (no replica yet after {limit:g} s); retry shortly",
                retry_after=COLD_START_RETRY_AFTER,
            ) from None
        except (RayError, RayServeException) as exc:
            raise _as_openmaas_error(exc, self.model_id) from exc
        waited = time.monotonic() - start
        if waited > 1.0:
            logger.info("model %s: replica %s answered after %.2f s (cold start)", self.model_id, replica_id, waited)

    def validate(self, prompt_token_ids: list[int], params: SamplingParams) -> None:
        """Validated by a replica (its config, its grammar cache). Blocking: called off the event loop."""
        try:
            error = self._handle.validate.remote(prompt_token_ids, params).result()
        except (RayError, RayServeException) as exc:
            raise _as_openmaas_error(exc, self.model_id) from exc
        if isinstance(error, OpenmaasError):
            raise error

    # Generation on the replicas -----------------------------------------------------------------------
    async def generate(
        self,
        prompt_token_ids: list[int],
        params: SamplingParams,
        request_id: str | None = None,
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        admission: Admission | None = None,
        tenant: str = "",
    ) -> AsyncIterator[EngineOutput]:
        """Streams the request's outputs from a replica; closing the iterator cancels it there (abort).

        A replica that dies mid-stream ends the stream with EngineFailed, which each dialect
        renders as its error event (and the call's usage row records)."""
        if admission is not None:
            tenant = admission.tenant
            admission.claim(len(prompt_token_ids))
        request_id = request_id or f"req-{uuid.uuid4().hex}"
        response = self._streaming.generate.remote(prompt_token_ids, params, request_id, session_id, timeout, tenant)
        # A handle with stream=True answers with a generator.
        stream = cast(DeploymentResponseGenerator[Any], response)
        finished = False
        try:
            async for item in stream:
                if isinstance(item, OpenmaasError):
                    raise item
                assert isinstance(item, EngineOutput)  # the replica sends nothing else
                finished = item.finished
                yield item
                if finished:
                    return
            raise EngineFailed(f"the replica serving model '{self.model_id}' ended the request without finishing it")
        except (RayError, RayServeException) as exc:
            raise _as_openmaas_error(exc, self.model_id) from exc
        finally:
            if not finished:
                stream.cancel()  # type: ignore[no-untyped-call]

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray]:
        self.check_embedding_inputs(inputs)
        try:
            result = await self._handle.embed.remote(inputs)
        except (RayError, RayServeException) as exc:
            raise _as_openmaas_error(exc, self.model_id) from exc
        if isinstance(result, OpenmaasError):
            raise result
        assert isinstance(result, list)
        return result

    def drop_session(self, session_id: str) -> None:
        """Tells a replica to free the session's KV (the one that holds it, when routed there)."""
        self._handle.drop_session.remote(session_id)


def _nothing_to_give_back(num_requests: int, num_prompt_tokens: int) -> None:
    return None


async def _awaited(response: object) -> object:
    """A DeploymentResponse as a coroutine (for asyncio.wait_for, which cancels it on timeout)."""
    return await response  # type: ignore[misc]


def _as_openmaas_error(exc: Exception, model_id: str) -> OpenmaasError:
    if isinstance(exc, BackPressureError):
        return QueueFull(
            f"The model '{model_id}' is at capacity: its replicas and their queue are full",
            retry_after=BACKPRESSURE_RETRY_AFTER,
        )
    logger.warning("model %s: a replica failed a request: %s", model_id, exc)
    return EngineFailed(f"the replica serving model '{model_id}' failed: {type(exc).__name__}")
