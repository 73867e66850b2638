"""ModelReplica: one Serve replica of a model, running today's engine (one EngineClient per replica)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import numpy as np
from ray import serve

from openmaas.engine import EngineClient, EngineConfig, EngineOutput, SamplingParams
from openmaas.errors import OpenmaasError

logger = logging.getLogger(__name__)


class ModelReplica:
    """The engine of one model in one Ray actor; the ingress reaches it through a DeploymentHandle.

    Errors the engine raises for a request (a full queue, a bad prompt) travel back as values
    in the stream, so the ingress raises the same OpenmaasError (and the client sees its status
    and shape), not Ray's wrapping of it.
    """

    def __init__(self, config: EngineConfig, debug_checks: bool = False) -> None:
        self._engine = EngineClient(config, check_invariants=debug_checks)
        self.replica_id = serve.get_replica_context().replica_id.unique_id
        logger.info("model replica %s serves %s", self.replica_id, config.model_path)

    async def generate(
        self,
        prompt_token_ids: list[int],
        params: SamplingParams,
        request_id: str,
        session_id: str | None,
        timeout: float | None,
        tenant: str,
    ) -> AsyncIterator[EngineOutput | OpenmaasError]:
        """Streams the request's outputs. Cancelling the call (the client went away) aborts it."""
        try:
            # This replica's own queue rules (shares between keys, expected wait) apply here.
            admission = self._engine.admit(1, len(prompt_token_ids), tenant=tenant)
        except OpenmaasError as exc:
            yield exc
            return
        try:
            outputs = self._engine.generate(
                prompt_token_ids, params, request_id, session_id=session_id, timeout=timeout, admission=admission
            )
            async for output in outputs:
                yield output
        except OpenmaasError as exc:
            yield exc
        finally:
            admission.release()

    def validate(self, prompt_token_ids: list[int], params: SamplingParams) -> OpenmaasError | None:
        """The error generate() would raise for this request (as a value), or None."""
        try:
            self._engine.validate(prompt_token_ids, params)
        except OpenmaasError as exc:
            return exc
        return None

    async def ready(self) -> str:
        """This replica's id, once it serves (the ingress waits on it for a cold start)."""
        return self.replica_id

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray] | OpenmaasError:
        try:
            return await self._engine.embed(inputs)
        except OpenmaasError as exc:
            return exc

    def drop_session(self, session_id: str) -> None:
        self._engine.drop_session(session_id)

    def check_health(self) -> None:
        """Serve's health check: a replica whose engine thread died is replaced."""
        if not self._engine.is_healthy():
            raise RuntimeError("the engine thread of this replica has stopped")

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.close()
