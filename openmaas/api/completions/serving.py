"""Serving chat completions and completions: wire requests in, engine jobs out, OpenAI-shaped payloads back.

Every dialect built on OpenAI's shapes runs through CompletionsServing; its
WireShape decides how the payloads are framed (envelope, SSE event names, usage).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from openmaas import __version__
from openmaas.api.completions.logprobs import chat_logprobs, completion_logprobs
from openmaas.api.completions.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    TokenizeRequest,
)
from openmaas.api.completions.shape import WireShape
from openmaas.api.completions.tools import ChatTools
from openmaas.api.context import current_request
from openmaas.api.generation import (
    ChoiceResult,
    Job,
    collect_jobs,
    held_by_request,
    raise_if_failed,
    stream_jobs,
    validate_jobs,
    visible_logprobs,
)
from openmaas.api.metering import CallAccount, Metrics
from openmaas.api.sse import SSE_HEADERS, ClientDisconnected, stream_error, until_disconnected
from openmaas.engine import Admission, EngineClient
from openmaas.errors import ContextLengthExceeded, InvalidRequest, OpenmaasError
from openmaas.fleet.fleet import Lease, ModelEntry, ModelFleet
from openmaas.fleet.model_facts import model_facts

SYSTEM_FINGERPRINT = f"openmaas-{__version__}"
OPENAI_SHAPE = WireShape()


class CompletionsServing:
    """Chat completions, completions, the model list and the tokenizer routes, over a ModelFleet."""

    def __init__(
        self, fleet: ModelFleet, metrics: Metrics, model_defaults: Callable[[str], Mapping[str, Any]] = lambda _: {}
    ) -> None:
        self._fleet = fleet
        self._metrics = metrics
        # A model id -> the request fields its catalog defaults set, under the client's own values.
        self._model_defaults = model_defaults

    # Models ---------------------------------------------------------------------
    def list_models(self) -> dict[str, Any]:
        """Every served model the caller's key may use, loaded or not."""
        context = current_request()
        entries = [e for e in self._fleet.entries() if context.may_use(e.source.names)]
        return {"object": "list", "data": [self._model_card(e) for e in entries]}

    def get_model(self, model_id: str) -> dict[str, Any]:
        """A served model's card: 404 for a model the caller's key may not use, as for an unknown one."""
        entry = self._fleet.entry(model_id)
        current_request().check_model(entry.source.names, requested=model_id)
        return self._model_card(entry)

    @staticmethod
    def _model_card(entry: ModelEntry) -> dict[str, Any]:
        return {
            "id": entry.model_id,
            "object": "model",
            "created": entry.created,
            "owned_by": "openmaas",
            "max_model_len": entry.config.max_model_len,
            # Which endpoints the model is for ("chat", "completions", "embeddings"), from its GGUF.
            "capabilities": list(model_facts(entry.source.path).capabilities),
        }

    async def _acquire(self, model: str, keep_alive: float | str | None = None) -> Lease:
        """A lease on the model, after checking that the caller's key may use it (before any load)."""
        current_request().check_model(self._fleet.entry(model).source.names, requested=model)
        return held_by_request(await self._fleet.acquire(model, keep_alive=keep_alive))

    # Tokenizer ------------------------------------------------------------------
    async def tokenize(self, body: TokenizeRequest) -> dict[str, Any]:
        lease = await self._acquire(body.model)
        try:
            engine = lease.served.engine
            # Off the event loop: tokenizing costs about a second per megabyte (the GIL is released inside).
            # A text that cannot fit the context is refused unread, as vLLM refuses it past max_model_len.
            tokens = await asyncio.to_thread(engine.tokenize_prompt, body.prompt, add_special=body.add_special_tokens)
            return {"tokens": tokens, "count": len(tokens), "max_model_len": engine.config.max_model_len}
        finally:
            lease.release()

    async def detokenize(self, body: DetokenizeRequest) -> dict[str, Any]:
        lease = await self._acquire(body.model)
        try:
            engine = lease.served.engine
            if any(not 0 <= t < engine.model_info.n_vocab for t in body.tokens):
                raise InvalidRequest(f"token ids must be in [0, {engine.model_info.n_vocab})", param="tokens")
            return {"prompt": engine.decode_tokens(body.tokens)}
        finally:
            lease.release()

    # Chat -----------------------------------------------------------------------
    async def chat(
        self, body: ChatCompletionRequest, http: Request, shape: WireShape = OPENAI_SHAPE
    ) -> JSONResponse | StreamingResponse:
        lease = await self._acquire(body.model, body.keep_alive)
        return await self._chat(lease, body, http, shape)

    async def _chat(
        self, lease: Lease, body: ChatCompletionRequest, http: Request, shape: WireShape
    ) -> JSONResponse | StreamingResponse:
        served = lease.served
        engine = served.engine
        body = body.under_defaults(self._model_defaults(served.source.model_id))
        tool_use = body.tool_use()
        has_format = body.response_format is not None and body.response_format.type != "text"
        tools = ChatTools(tool_use, engine, has_response_format=has_format)
        prompt = await asyncio.to_thread(engine.encode_chat, body.message_dicts(), tools=tool_use)
        jobs = [Job(prompt, tools.sampling_params(body.to_sampling_params(i))) for i in range(body.n)]
        try:
            admission = await validate_jobs(engine, jobs)
        except ContextLengthExceeded as exc:
            raise ContextLengthExceeded(exc.message, param="messages") from None
        request_id = f"{shape.chat_id_prefix}{uuid.uuid4().hex}"
        created = int(time.time())
        # Metrics name the model by its id, whatever alias the client used.
        meter = self._meter(served.source.model_id, shape, jobs, body.n)
        if body.stream:
            events = self._chat_stream(engine, jobs, admission, request_id, created, body, meter, shape, tools)
            return _event_stream(_guarded(events, meter, shape))
        results = await _metered_collect(http, meter, engine, jobs, admission, request_id)
        return _json_answer(
            shape,
            {
                "id": request_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [self._chat_choice(i, r, engine, body, tools) for i, r in enumerate(results)],
                "usage": meter.usage.as_openai(),
            },
        )

    async def _chat_stream(
        self,
        engine: EngineClient,
        jobs: list[Job],
        admission: Admission,
        request_id: str,
        created: int,
        body: ChatCompletionRequest,
        meter: CallAccount,
        shape: WireShape,
        tools: ChatTools,
    ) -> AsyncGenerator[dict[str, Any], None]:
        def chunk(choices: list[dict[str, Any]], final_usage: dict[str, Any] | None = None) -> dict[str, Any]:
            return _chunk("chat.completion.chunk", request_id, created, body, choices, shape, meter, final_usage)

        # Each choice's text goes through its own tool-call reader when calls are read back.
        tool_streams = [tools.stream() if tools.parses_calls else None for _ in jobs]

        for i in range(len(jobs)):
            yield chunk([_chat_delta(i, {"role": "assistant", "content": ""})])
        async for index, output in stream_jobs(engine, jobs, request_id, admission):
            meter.observe(index, output)
            raise_if_failed(output)
            if meter.is_complete:  # the call's row is durable before its last chunk leaves
                await meter.settle("ok")
            entries = visible_logprobs(output) if body.logprobs else ()
            tool_stream = tool_streams[index]
            if tool_stream is None:
                fields: dict[str, Any] | None = {"content": output.text} if output.text else None
            else:
                fields = tool_stream.push(output.text) if output.text else None
            if fields or entries:
                delta = _chat_delta(index, fields or {})
                if entries:
                    delta["logprobs"] = chat_logprobs(entries, engine.token_bytes)
                yield chunk([delta])
            if output.finished:
                reason = _reason_value(output.finish_reason)
                if tool_stream is not None:
                    last, reason = tool_stream.finish(reason)
                    if last:
                        yield chunk([_chat_delta(index, last)])
                yield chunk([_chat_delta(index, {}, reason)])
        await meter.settle("ok")
        if body.include_usage:
            yield chunk([], meter.usage.as_openai())

    # Completions ------------------------------------------------------------------
    async def completions(
        self, body: CompletionRequest, http: Request, shape: WireShape = OPENAI_SHAPE
    ) -> JSONResponse | StreamingResponse:
        lease = await self._acquire(body.model, body.keep_alive)
        return await self._completions(lease, body, http, shape)

    async def _completions(
        self, lease: Lease, body: CompletionRequest, http: Request, shape: WireShape
    ) -> JSONResponse | StreamingResponse:
        served = lease.served
        engine = served.engine
        body = body.under_defaults(self._model_defaults(served.source.model_id))
        # Counted before anything is tokenized: a call of thousands of prompts is refused at once.
        engine.check_call_size(_num_prompts(body.prompt) * body.n, param="prompt")
        prompts = await asyncio.to_thread(self._completion_prompts, engine, body.prompt)
        jobs = [Job(p, body.to_sampling_params(i)) for p in prompts for i in range(body.n)]
        admission = await validate_jobs(engine, jobs)
        echoes = self._echoes(engine, body.prompt, prompts) if body.echo else [""] * len(prompts)
        request_id = f"cmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        meter = self._meter(served.source.model_id, shape, jobs, body.n)
        if body.stream:
            events = self._completion_stream(engine, jobs, admission, echoes, request_id, created, body, meter, shape)
            return _event_stream(_guarded(events, meter, shape))
        results = await _metered_collect(http, meter, engine, jobs, admission, request_id)
        return _json_answer(
            shape,
            {
                "id": request_id,
                "object": "text_completion",
                "created": created,
                "model": body.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [self._completion_choice(i, r, engine, body, echoes) for i, r in enumerate(results)],
                "usage": meter.usage.as_openai(),
            },
        )

    async def _completion_stream(
        self,
        engine: EngineClient,
        jobs: list[Job],
        admission: Admission,
        echoes: list[str],
        request_id: str,
        created: int,
        body: CompletionRequest,
        meter: CallAccount,
        shape: WireShape,
    ) -> AsyncGenerator[dict[str, Any], None]:
        def chunk(choices: list[dict[str, Any]], final_usage: dict[str, Any] | None = None) -> dict[str, Any]:
            return _chunk("text_completion", request_id, created, body, choices, shape, meter, final_usage)

        # Where each choice's next token starts in its text, for completions' text_offset.
        offsets = [len(echoes[i // body.n]) for i in range(len(jobs))]
        if body.echo:
            for i in range(len(jobs)):
                yield chunk([_text_choice(i, echoes[i // body.n])])
        async for index, output in stream_jobs(engine, jobs, request_id, admission):
            meter.observe(index, output)
            raise_if_failed(output)
            if meter.is_complete:  # the call's row is durable before its last chunk leaves
                await meter.settle("ok")
            entries = visible_logprobs(output) if body.logprobs is not None else ()
            if output.text or output.finished or entries:
                choice = _text_choice(index, output.text, output.finish_reason)
                if entries:
                    choice["logprobs"] = completion_logprobs(entries, engine.token_bytes, offsets[index])
                offsets[index] += len(output.text)
                yield chunk([choice])
        await meter.settle("ok")
        if body.include_usage:
            yield chunk([], meter.usage.as_openai())

    def _meter(self, model_id: str, shape: WireShape, jobs: list[Job], n: int) -> CallAccount:
        """The call's account: jobs laid out prompt by prompt, n choices each."""
        return self._metrics.meter(model_id, shape.name, [len(job.prompt_token_ids) for job in jobs], n)

    @staticmethod
    def _chat_choice(
        index: int, result: ChoiceResult, engine: EngineClient, body: ChatCompletionRequest, tools: ChatTools
    ) -> dict[str, Any]:
        logprobs = chat_logprobs(tuple(result.logprobs), engine.token_bytes) if body.logprobs else None
        message, finish_reason = tools.message(result.text, _finish_reason(result))
        return {
            "index": index,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
            "stop_reason": result.stop_reason,
        }

    @staticmethod
    def _completion_choice(
        index: int, result: ChoiceResult, engine: EngineClient, body: CompletionRequest, echoes: list[str]
    ) -> dict[str, Any]:
        echo = echoes[index // body.n]
        logprobs = None
        if body.logprobs is not None:
            logprobs = completion_logprobs(tuple(result.logprobs), engine.token_bytes, len(echo))
        return {
            "index": index,
            "text": echo + result.text,
            "logprobs": logprobs,
            "finish_reason": _finish_reason(result),
            "stop_reason": result.stop_reason,
        }

    @staticmethod
    def _echoes(engine: EngineClient, prompt: object, prompts: list[list[int]]) -> list[str]:
        """The prompts as the client sent them: the strings themselves, or token ids as text."""
        if isinstance(prompt, str):
            return [prompt]
        if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
            return [str(p) for p in prompt]
        return [engine.decode_tokens(p) for p in prompts]

    @staticmethod
    def _completion_prompts(
        engine: EngineClient, prompt: str | list[str] | list[int] | list[list[int]]
    ) -> list[list[int]]:
        """A completions prompt is raw text (no chat template) or token ids, one or a batch."""
        if isinstance(prompt, str):
            return [engine.tokenize_prompt(prompt)]
        if not prompt:
            raise InvalidRequest("prompt must not be empty", param="prompt")
        prompts: list[list[int]] = []
        for item in prompt:
            if isinstance(item, str):
                prompts.append(engine.tokenize_prompt(item))
            elif isinstance(item, list):
                prompts.append(list(item))
            else:  # a flat list of token ids is one prompt
                return [[int(token) for token in prompt if isinstance(token, int)]]
        return prompts


def _num_prompts(prompt: str | list[str] | list[int] | list[list[int]]) -> int:
    """How many prompts a completions prompt holds (a flat list of token ids is one)."""
    if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
        return len(prompt)
    return 1


async def _metered_collect(
    http: Request, meter: CallAccount, engine: EngineClient, jobs: list[Job], admission: Admission, request_id: str
) -> list[ChoiceResult]:
    """collect_jobs, cancelled if the client leaves; the call's row is durable before the answer is sent."""
    try:
        collecting = collect_jobs(engine, jobs, request_id, meter.observe, admission)
        results = await until_disconnected(http, collecting)
    except OpenmaasError as exc:
        if isinstance(exc, ClientDisconnected):
            meter.finish("cancelled")
        else:
            await meter.settle(exc.code)
        raise
    await meter.settle("ok")
    return results


async def _guarded(
    events: AsyncGenerator[dict[str, Any], None], meter: CallAccount, shape: WireShape
) -> AsyncIterator[str]:
    """A stream's chunks framed by shape, then its end marker; an error after the status line
    is sent becomes an error event.

    Closing this (the client went away) closes the events' generator at once, which aborts its
    generation, and records the call as cancelled unless it had already finished. The model's
    lease is held by the HTTP request, which ends with the stream (held_by_request).
    """
    async with aclosing(_framed(events, meter, shape)) as framed:
        async for item in framed:
            yield item


async def _framed(
    events: AsyncGenerator[dict[str, Any], None], meter: CallAccount, shape: WireShape
) -> AsyncGenerator[str, None]:
    try:
        async with aclosing(events):
            async for event in events:
                yield shape.stream_event(event)
                # Resumed once the event was handed to the connection: what it counted was delivered.
                meter.delivered()
    except Exception as exc:
        error = stream_error(exc)
        await meter.settle(error.code)
        yield shape.stream_error(error)
    finally:
        meter.finish("cancelled")  # a no-op once the call was recorded
    end = shape.stream_end()
    if end is not None:
        yield end


def _event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


def _json_answer(shape: WireShape, payload: dict[str, Any]) -> JSONResponse:
    return JSONResponse(shape.response(payload))


def _chunk(
    kind: str,
    request_id: str,
    created: int,
    body: ChatCompletionRequest | CompletionRequest,
    choices: list[dict[str, Any]],
    shape: WireShape,
    meter: CallAccount,
    final_usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """One streamed chunk. With include_usage every chunk has "usage" (null until the last);
    a shape with usage_in_every_chunk gets the usage so far in each."""
    payload: dict[str, Any] = {
        "id": request_id,
        "object": kind,
        "created": created,
        "model": body.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
    }
    if shape.usage_in_every_chunk:
        payload["usage"] = final_usage or meter.usage.as_openai()
    elif body.include_usage:
        payload["usage"] = final_usage
    return payload


def _chat_delta(index: int, delta: dict[str, Any], finish_reason: object = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": _reason_value(finish_reason)}


def _text_choice(index: int, text: str, finish_reason: object = None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": _reason_value(finish_reason)}


def _reason_value(reason: object) -> str | None:
    return None if reason is None else str(reason)


def _finish_reason(result: ChoiceResult) -> str | None:
    return _reason_value(result.finish_reason)
