"""Running several engine requests for one API call (n choices, several prompts) as one stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from openmaas.api.context import current_request
from openmaas.engine import Admission, EngineClient, EngineOutput, FinishReason, SamplingParams, TokenLogprob
from openmaas.errors import EngineFailed
from openmaas.fleet.fleet import Lease


@dataclass(frozen=True, slots=True)
class Job:
    """One choice to generate: its prompt and its sampling settings."""

    prompt_token_ids: list[int]
    params: SamplingParams
    # Keeps the job's KV when it ends, for a later job that continues it (EngineClient.generate).
    session_id: str | None = None


@dataclass(slots=True)
class ChoiceResult:
    """Everything one choice produced, for non-streamed answers."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0
    num_output_tokens: int = 0
    finish_reason: FinishReason | None = None
    # The stop string or stop token id that ended the choice (vLLM's stop_reason).
    stop_reason: str | int | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)


async def stream_jobs(
    engine: EngineClient, jobs: list[Job], request_id: str, admission: Admission | None = None
) -> AsyncIterator[tuple[int, EngineOutput]]:
    """Yields (job index, output) as any job produces; closing it aborts every job still running.

    The caller validates the jobs first (validate_jobs, which gives the admission the jobs claim
    their queue places from), so bad input is refused before a streamed response has started.
    """
    timeout = current_request().timeout
    if len(jobs) == 1:
        job = jobs[0]
        outputs = engine.generate(
            job.prompt_token_ids,
            job.params,
            request_id,
            session_id=job.session_id,
            timeout=timeout,
            admission=admission,
        )
        async for output in outputs:
            yield 0, output
        return
    merged: asyncio.Queue[tuple[int, EngineOutput | BaseException]] = asyncio.Queue()

    async def pump(index: int, job: Job) -> None:
        try:
            outputs = engine.generate(
                job.prompt_token_ids,
                job.params,
                f"{request_id}-{index}",
                session_id=job.session_id,
                timeout=timeout,
                admission=admission,
            )
            async for output in outputs:
                merged.put_nowait((index, output))
        except Exception as exc:
            merged.put_nowait((index, exc))

    tasks = [asyncio.create_task(pump(i, job)) for i, job in enumerate(jobs)]
    remaining = len(jobs)
    try:
        while remaining:
            index, item = await merged.get()
            if isinstance(item, BaseException):
                raise item
            if item.finished:
                remaining -= 1
            yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def validate_jobs(engine: EngineClient, jobs: list[Job]) -> Admission:
    """Readies and checks every job before anything starts, so bad input (and work the model's
    queue has no room for) is refused up front, before an answer's status line is sent.

    Returns the queue room reserved for the jobs (pass it to stream_jobs or collect_jobs); what
    they leave unclaimed goes back when the HTTP request ends, with the request's scope."""
    for job in jobs:
        await engine.prepare(job.params)
    # Off the event loop: validating builds each request, compiling its grammar if it has one.
    await asyncio.to_thread(_validate_all, engine, jobs)
    # Last, with no await after it: the room is reserved in the same step as it is checked, and held
    # until the jobs start, however late a streamed body begins. The caller's key decides the call's
    # turn in the queue.
    context = current_request()
    admission = engine.admit(len(jobs), sum(len(job.prompt_token_ids) for job in jobs), tenant=context.key_id or "")
    context.on_end(admission.release)
    return admission


def _validate_all(engine: EngineClient, jobs: list[Job]) -> None:
    for job in jobs:
        engine.validate(job.prompt_token_ids, job.params)


async def collect_jobs(
    engine: EngineClient,
    jobs: list[Job],
    request_id: str,
    observe: Callable[[int, EngineOutput], None] | None = None,
    admission: Admission | None = None,
) -> list[ChoiceResult]:
    """Runs jobs to the end and gathers each one's text and counts (each output also goes to
    observe, with its job's index)."""
    results = [ChoiceResult() for _ in jobs]
    async for index, output in stream_jobs(engine, jobs, request_id, admission):
        if observe is not None:
            observe(index, output)
        result = results[index]
        result.text += output.text
        result.token_ids.extend(output.token_ids)
        result.num_prompt_tokens = output.num_prompt_tokens
        result.num_cached_tokens = output.num_cached_tokens
        result.num_output_tokens = output.num_output_tokens
        result.logprobs.extend(visible_logprobs(output))
        if output.finished:
            raise_if_failed(output)
            result.finish_reason = output.finish_reason
            result.stop_reason = output.stop_reason
    return results


def visible_logprobs(output: EngineOutput) -> tuple[TokenLogprob, ...]:
    """The output's logprob entries, without the stop token that ended it (OpenAI leaves it out)."""
    entries = output.logprobs
    if entries and isinstance(output.stop_reason, int) and entries[-1].token_id == output.stop_reason:
        return entries[:-1]
    return entries


def raise_if_failed(output: EngineOutput) -> None:
    if output.finish_reason is FinishReason.ERROR:
        raise EngineFailed(output.error or "the engine failed while generating")


def held_by_request(lease: Lease) -> Lease:
    """Ties a model lease to the current HTTP request: released when the request ends (its answer
    sent, its stream over, its client gone, or an error), however it ends; never by a finalizer."""
    current_request().on_end(lease.release)
    return lease
