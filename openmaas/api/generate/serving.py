"""Serving the generate dialect: raw prompts in, plain text (or the batch array) out, sessions kept."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from openmaas.api.context import current_request
from openmaas.api.generate.protocol import (
    GenerateBatchRequest,
    GenerateRequest,
    GenerationConfig,
    GenerationDefaults,
)
from openmaas.api.generate.sessions import Session, SessionItem, SessionStore
from openmaas.api.generation import (
    ChoiceResult,
    Job,
    collect_jobs,
    held_by_request,
    raise_if_failed,
    stream_jobs,
    validate_jobs,
)
from openmaas.api.metering import CallAccount, Metrics
from openmaas.api.sse import ClientDisconnected, until_disconnected
from openmaas.engine import Admission, EngineClient, EngineOutput
from openmaas.errors import InvalidRequest, ModelNotFound, OpenmaasError
from openmaas.fleet.fleet import Lease, ModelEntry, ModelFleet

logger = logging.getLogger(__name__)

DIALECT = "generate"
TEXT_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class GenerateServing:
    """/api/generate and /api/generate-batch over a ModelFleet, with their sessions."""

    def __init__(self, fleet: ModelFleet, metrics: Metrics, defaults: GenerationDefaults, sessions: SessionStore):
        self._fleet = fleet
        self._metrics = metrics
        self._defaults = defaults
        self._sessions = sessions

    # /api/generate -------------------------------------------------------------
    async def generate(self, body: GenerateRequest, http: Request) -> PlainTextResponse | StreamingResponse:
        session, lease = await self._session(
            f"generate:{body.request_id}", body.model, [(body.request_id, body.prompt)], body.keep_alive
        )
        return await self._generate(body, http, session, lease)

    async def _generate(
        self, body: GenerateRequest, http: Request, session: Session, lease: Lease
    ) -> PlainTextResponse | StreamingResponse:
        served = lease.served
        item = session.items[0]
        engine = served.engine
        jobs, admission = await self._jobs(engine, session, body.generation_config)
        prefix = "" if body.only_new_tokens else self._full_text(engine, item)
        meter = self._meter(served.source.model_id, jobs)
        request_id = f"gen-{uuid.uuid4().hex}"
        if body.stream_response:
            stream = self._text_stream(engine, session, jobs, admission, request_id, prefix, meter)
            return StreamingResponse(stream, media_type="text/plain; charset=utf-8", headers=TEXT_HEADERS)
        results = await self._collect(http, engine, session, jobs, admission, request_id, meter)
        result = results[0]
        headers = {
            "X-Prompt-Tokens": str(result.num_prompt_tokens),
            "X-Cached-Tokens": str(result.num_cached_tokens),
            "X-Completion-Tokens": str(result.num_output_tokens),
        }
        return PlainTextResponse(prefix + result.text, headers=headers)

    async def _text_stream(
        self,
        engine: EngineClient,
        session: Session,
        jobs: list[Job],
        admission: Admission,
        request_id: str,
        prefix: str,
        meter: CallAccount,
    ) -> AsyncIterator[str]:
        """The text as it comes. Plain text has no room for an error: one ends the stream (and is logged)."""
        item = session.items[0]
        status = "cancelled"
        try:
            if prefix:
                yield prefix
            async for index, output in stream_jobs(engine, jobs, request_id, admission):
                meter.observe(index, output)
                raise_if_failed(output)
                _record(item, output)
                if meter.is_complete:  # the call's row is durable before its last bytes leave
                    await meter.settle("ok")
                if output.text:
                    yield output.text
                    meter.delivered()
            status = "ok"
        except OpenmaasError as exc:
            logger.warning("generate stream %s ended by an error: %s", request_id, exc.message)
            status = exc.code
            await meter.settle(status)
        finally:
            meter.finish(status)
            self._release(session)

    # /api/generate-batch ---------------------------------------------------------
    async def generate_batch(self, body: GenerateBatchRequest, http: Request) -> JSONResponse:
        ids = [p.request_id for p in body.prompts]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("request_id values must be distinct within a batch", param="prompts")
        # The batch is one session, keyed by its ordered ids: another order is another session.
        key = "batch:" + json.dumps(ids)
        session, lease = await self._session(
            key, body.model, [(p.request_id, p.prompt) for p in body.prompts], body.keep_alive
        )
        try:
            return await self._generate_batch(body, http, session, lease)
        finally:
            lease.release()

    async def _generate_batch(
        self, body: GenerateBatchRequest, http: Request, session: Session, lease: Lease
    ) -> JSONResponse:
        served = lease.served
        engine = served.engine
        jobs, admission = await self._jobs(engine, session, body.generation_config)
        # Each call's new text comes from its results, not from the session (which holds every call's).
        before = [item.generated_text for item in session.items]
        meter = self._meter(served.source.model_id, jobs)
        request_id = f"genb-{uuid.uuid4().hex}"
        results = await self._collect(http, engine, session, jobs, admission, request_id, meter)
        answer: list[dict[str, Any]] = []
        for item, result, earlier in zip(session.items, results, before, strict=True):
            entry: dict[str, Any] = {"request_id": item.request_id}
            if body.only_new_tokens:
                entry["response"] = result.text
            else:
                entry["prompt"] = _with_special_tokens(engine, item.prompt_token_ids)
                entry["response"] = earlier + result.text
            answer.append(entry)
        return JSONResponse(answer)

    # Shared --------------------------------------------------------------------------
    async def _session(
        self, key: str, model: str | None, prompts: list[tuple[str, str]], keep_alive: float | str | None
    ) -> tuple[Session, Lease]:
        """The session to run: the one key names (its prompts then ignored), or a new one; and a
        lease on its model (loaded if it was not)."""
        session = self._sessions.checkout(key)
        if session is not None:
            try:
                current_request().check_model(self._fleet.entry(session.model_id).source.names)
                lease = held_by_request(await self._fleet.acquire(session.model_id, keep_alive=keep_alive))
                session.is_held = lambda: not lease.is_released
                return session, lease
            except ModelNotFound:
                self._release(session, failed=True)
                session = None
            except BaseException:
                self._release(session)
                raise
        entry = self._fleet.entry(model) if model is not None else self._default_entry()
        current_request().check_model(entry.source.names)
        lease = held_by_request(await self._fleet.acquire(entry.model_id, keep_alive=keep_alive))
        try:
            session = await self._open_session(key, lease, prompts)
            session.is_held = lambda: not lease.is_released
            return session, lease
        except BaseException:
            lease.release()
            raise

    def _default_entry(self) -> ModelEntry:
        if self._fleet.default_model_id is None:
            raise ModelNotFound("no model is served", param="model")
        return self._fleet.entry(self._fleet.default_model_id)

    async def _open_session(self, key: str, lease: Lease, prompts: list[tuple[str, str]]) -> Session:
        served = lease.served
        engine = served.engine
        # Counted before anything is tokenized: a batch of thousands of prompts is refused at once.
        engine.check_call_size(len(prompts), param="prompts")
        # Off the event loop: tokenizing costs about a second per megabyte (the GIL is released inside).
        encoded = await asyncio.to_thread(_encode_prompts, engine, [prompt for _, prompt in prompts])
        items = [
            SessionItem(request_id, token_ids, list(token_ids), f"{key}#{index}")
            for index, ((request_id, _), token_ids) in enumerate(zip(prompts, encoded, strict=True))
        ]
        return self._sessions.open(key, served.source.model_id, items)

    async def _jobs(
        self, engine: EngineClient, session: Session, config: GenerationConfig
    ) -> tuple[list[Job], Admission]:
        """The call's engine jobs, checked, and their queue room; a refusal ends the call (a new
        session is forgotten)."""
        try:
            params = config.to_sampling_params(self._defaults)
            jobs = [Job(item.token_ids, params, session_id=item.engine_session_id) for item in session.items]
            admission = await validate_jobs(engine, jobs)
        except BaseException:
            self._release(session, failed=True)
            raise
        return jobs, admission

    async def _collect(
        self,
        http: Request,
        engine: EngineClient,
        session: Session,
        jobs: list[Job],
        admission: Admission,
        request_id: str,
        meter: CallAccount,
    ) -> list[ChoiceResult]:
        """Runs the jobs to the end; the session takes their tokens only if the answer is complete
        (a client that left, or a failure, leaves the session where it was)."""
        try:
            collecting = collect_jobs(engine, jobs, request_id, meter.observe, admission)
            results = await until_disconnected(http, collecting)
        except BaseException as exc:
            self._release(session, failed=True)
            if isinstance(exc, ClientDisconnected | asyncio.CancelledError):
                meter.finish("cancelled")
            else:
                await meter.settle(exc.code if isinstance(exc, OpenmaasError) else "error")
            raise
        for item, result in zip(session.items, results, strict=True):
            item.token_ids.extend(result.token_ids)
            item.generated_text += result.text
        self._release(session)
        # The call's row is durable before the answer is sent.
        await meter.settle("ok")
        return results

    def _meter(self, model_id: str, jobs: list[Job]) -> CallAccount:
        """The call's account: one prompt per job (a batch's prompts each count once)."""
        return self._metrics.meter(model_id, DIALECT, [len(job.prompt_token_ids) for job in jobs])

    def _release(self, session: Session, *, failed: bool = False) -> None:
        """Ends a call: the session may be continued, or, if its first call never ran, is forgotten."""
        never_ran = all(item.token_ids == item.prompt_token_ids for item in session.items)
        if failed and never_ran:
            self._sessions.discard(session)
        else:
            self._sessions.checkin(session)

    @staticmethod
    def _full_text(engine: EngineClient, item: SessionItem) -> str:
        """The sequence so far as Hugging Face decodes it: special tokens written out."""
        return _with_special_tokens(engine, item.prompt_token_ids) + item.generated_text


def _encode_prompts(engine: EngineClient, prompts: list[str]) -> list[list[int]]:
    # As Hugging Face tokenizers do: BOS added, special-token text parsed as special tokens.
    return [engine.tokenize_prompt(prompt, add_special=True, parse_special=True) for prompt in prompts]


def _record(item: SessionItem, output: EngineOutput) -> None:
    item.token_ids.extend(output.token_ids)
    item.generated_text += output.text


def _with_special_tokens(engine: EngineClient, token_ids: list[int]) -> str:
    return b"".join(engine.token_bytes(t) for t in token_ids).decode("utf-8", errors="replace")
