"""EngineClient: owns the engine thread; the async side's only door into the engine.

The core runs synchronously in its own thread (llama_decode releases the
GIL). Requests and aborts reach it through one inbox; each step's outputs go
back to the event loop in a single call, which feeds one asyncio queue per
request. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from openmaas.engine.admission import Admission
from openmaas.engine.chat_template import ChatTemplate, select_chat_template
from openmaas.engine.config import EngineConfig
from openmaas.engine.core import EngineCore
from openmaas.engine.embeddings import (
    MAX_BATCH_INPUTS,
    EmbeddingBatcher,
    EmbeddingJob,
    EmbeddingResult,
    check_embedding_inputs,
)
from openmaas.engine.fair_queue import FairQueue
from openmaas.engine.messages import EngineOutput, EngineStats
from openmaas.engine.prompt_bytes import PromptBytesCheck
from openmaas.engine.queue_control import QueueControl
from openmaas.engine.request import Request
from openmaas.engine.runners.llama_cpp import LlamaCppRunner, ModelInfo
from openmaas.engine.runners.llama_cpp_embeddings import LlamaCppEmbedder
from openmaas.engine.sampling_params import SamplingParams
from openmaas.engine.structured import StructuredOutputs
from openmaas.engine.tools.spec import ToolUse
from openmaas.errors import EngineDead, EngineFailed, OpenmaasError, ShuttingDown

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Add:
    request: Request


@dataclass(frozen=True, slots=True)
class _Abort:
    request_id: str


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[EngineCore], Any]
    result: Future[Any]


@dataclass(frozen=True, slots=True)
class _Embed:
    job: EmbeddingJob


class _AbortAll:
    pass


@dataclass(eq=False, slots=True)
class _Waiting:
    """A request between generate() and its first output: held back, then sent to the engine."""

    request: Request
    tenant: str
    num_prompt_tokens: int
    is_sent: bool = False


class _Stop:
    pass


_Message = _Add | _Abort | _AbortAll | _Call | _Embed | _Stop


class EngineClient:
    """Loads a model, runs its engine thread, and streams outputs to coroutines."""

    def __init__(self, config: EngineConfig, *, check_invariants: bool = False) -> None:
        self.config = config
        self._runner = LlamaCppRunner(config)
        self._core = EngineCore(config, self._runner, check_invariants=check_invariants)
        # Embeddings run between generation steps, on the engine thread, in batches of at most a
        # step's token budget (an input up to max_model_len runs alone).
        self._embeddings = EmbeddingBatcher(self._make_embedder, batch_tokens=config.max_num_batched_tokens)
        info = self._runner.info
        self.chat_template: ChatTemplate = select_chat_template(
            info.chat_template, info.architecture, bos_token=info.bos_token, eos_token=info.eos_token
        )
        self._inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        # request_id -> (the loop its coroutine runs on, its output queue)
        self._queues: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue[EngineOutput]]] = {}
        self._ids = itertools.count()
        # Admission control (event-loop side): requests admitted that have not produced their first
        # token yet (reserved, held back, queued in the engine or prefilling), and their prompt tokens.
        self._queue = QueueControl(config)
        # Requests wait here, served round robin by tenant, while max_num_seqs requests already wait
        # for their first token inside the engine (whose own queue is first come, first served).
        self._held: FairQueue[_Waiting] = FairQueue()
        self._num_sent_waiting = 0
        self._is_accepting = True
        self._fatal: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="openmaas-engine", daemon=True)
        self._thread.start()
        # Structured output's view of the vocabulary costs ~3 s of mostly Python work (GIL-bound):
        # built on the first request that needs it (prepare()), not at load, so plain serving never pays.
        self._structured_lock = threading.Lock()
        self._prompt_bytes = PromptBytesCheck(self._runner.token_bytes, self._runner.n_vocab, config.max_model_len)

    # Model facts and text ---------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo:
        return self._runner.info

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        return self._runner.tokenize(text, add_special=add_special, parse_special=parse_special)

    def tokenize_prompt(
        self, text: str, *, add_special: bool = True, parse_special: bool = True, param: str = "prompt"
    ) -> list[int]:
        """tokenize() for a prompt to generate from: one that cannot fit the context, judging by its
        bytes, is refused (ContextLengthExceeded) before any tokenizing. CPU-bound: call it off the
        event loop (llama.cpp's tokenizer releases the GIL)."""
        self._prompt_bytes.check(text, param=param)
        return self.tokenize(text, add_special=add_special, parse_special=parse_special)

    def encode_chat(
        self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True, tools: ToolUse | None = None
    ) -> list[int]:
        """Renders messages (and tools) through the chat template and tokenizes the result (a text too long
        to fit the context is refused first, as in tokenize_prompt). CPU-bound: call it off the event loop."""
        text = self.chat_template.render(messages, add_generation_prompt=add_generation_prompt, tools=tools)
        self._prompt_bytes.check(text, param="messages")
        bos = self.chat_template.bos_token
        # Templates that write the BOS themselves must not get a second one.
        add_special = self._runner.adds_bos and not (bos and text.startswith(bos))
        return self.tokenize(text, add_special=add_special, parse_special=True)

    def token_bytes(self, token_id: int) -> bytes:
        """A token's bytes, control tokens included (for logprobs)."""
        return self._runner.token_bytes(token_id)

    def decode_tokens(self, token_ids: list[int]) -> str:
        return b"".join(self._runner.token_piece(t) for t in token_ids).decode("utf-8", errors="replace")

    async def prepare(self, params: SamplingParams) -> None:
        """Readies what params need before validate() and generate(), off the event loop."""
        if params.structured is not None and self._core.structured_outputs is None:
            await asyncio.to_thread(self._ensure_structured)

    def _ensure_structured(self) -> None:
        with self._structured_lock:
            if self._core.structured_outputs is None:
                self._core.structured_outputs = StructuredOutputs(self._runner.llguidance_tokenizer())

    def _wait_for_structured(self, params: SamplingParams) -> None:
        if params.structured is not None:
            self._ensure_structured()

    # Generation -------------------------------------------------------------------
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
        """Streams a request's outputs; closing the iterator early aborts the request.

        With session_id, the request's KV is kept when it ends normally, and a
        later request of the same session whose prompt is this one's tokens
        (prompt and output) resumes from it without computing them again.
        With timeout (seconds), the request ends once that long has passed, as
        if it had reached its token limit (finish reason "length"). With admission
        (from ``admit``), the request takes the queue place reserved for it, and its tenant
        (else tenant's): it enters the engine in its tenant's turn (FairQueue).
        """
        self._check_alive()
        request_id = request_id or f"req-{uuid.uuid4().hex}-{next(self._ids)}"
        self._wait_for_structured(params)
        request = self._core.make_request(request_id, prompt_token_ids, params, session_id)
        if timeout is not None:
            request.deadline = request.arrival_time + timeout
        outputs: asyncio.Queue[EngineOutput] = asyncio.Queue()
        self._queues[request_id] = (asyncio.get_running_loop(), outputs)
        num_prompt_tokens = len(prompt_token_ids)
        if admission is not None:
            tenant = admission.tenant
        if admission is None or not admission.claim(num_prompt_tokens):
            self._queue.enter(tenant, 1, num_prompt_tokens)
        waiting = _Waiting(request, tenant, num_prompt_tokens)
        self._held.push(tenant, waiting)
        self._send_held()
        is_queued = True
        finished = False
        try:
            while not finished:
                output = await outputs.get()
                if is_queued:
                    is_queued = False
                    self._stop_waiting(waiting, is_served=True)
                finished = output.finished
                yield output
        finally:
            if is_queued:
                self._stop_waiting(waiting, is_served=False)
            self._queues.pop(request_id, None)
            if not finished and waiting.is_sent:
                self._inbox.put(_Abort(request_id))

    def _send_held(self) -> None:
        """Sends held requests to the engine, in turn, while fewer than max_num_seqs wait inside it."""
        while self._num_sent_waiting < self.config.max_num_seqs:
            waiting = self._held.pop()
            if waiting is None:
                return
            waiting.is_sent = True
            self._num_sent_waiting += 1
            self._inbox.put(_Add(waiting.request))

    def _stop_waiting(self, waiting: _Waiting, *, is_served: bool) -> None:
        """The request got its first output (served) or ended without one; it leaves the queue."""
        if waiting.is_sent:
            self._num_sent_waiting -= 1
        else:
            self._held.remove(waiting.tenant, waiting)
        self._queue.leave(waiting.tenant, 1, waiting.num_prompt_tokens, is_served=is_served)
        self._send_held()

    def check_call_size(self, num_requests: int, *, param: str | None = None) -> None:
        """Raises InvalidRequest (400) for a call of more requests than one call may bring; cheap,
        so the API checks it before tokenizing a batch of prompts."""
        self._queue.check_call_size(num_requests, param=param)

    def admit(self, num_requests: int, num_prompt_tokens: int, *, tenant: str = "") -> Admission:
        """Refuses at once work the queue has no room for (429 queue_full), or any while shutting down.

        Called before an answer starts, so a refusal is a status code, not a broken stream. A
        request is queued from admission to its first output; tenant (the caller's key) decides
        its turn among the waiting calls. See QueueControl for the rules.
        """
        if not self._is_accepting:
            raise ShuttingDown("the server is shutting down; retry on another replica", retry_after=5)
        # Reserved now, not when the requests reach the engine: calls admitted meanwhile see them.
        return self._queue.admit(tenant, num_requests, num_prompt_tokens)

    @property
    def num_queued(self) -> int:
        return self._queue.num_queued

    def stop_accepting(self) -> None:
        """From now on admit() refuses everything (the server is draining)."""
        self._is_accepting = False

    def abort_all(self) -> None:
        """Ends every request in the engine with finish reason "abort" (between two steps)."""
        # Held requests go in first, so the engine ends them with the rest.
        for waiting in self._held.drain():
            waiting.is_sent = True
            self._num_sent_waiting += 1
            self._inbox.put(_Add(waiting.request))
        self._inbox.put(_AbortAll())

    def validate(self, prompt_token_ids: list[int], params: SamplingParams) -> None:
        """Raises the error generate() would raise for this prompt, without starting it."""
        self._wait_for_structured(params)
        self._core.make_request("validation", prompt_token_ids, params)

    # Embeddings -------------------------------------------------------------------
    def check_embedding_inputs(self, inputs: list[list[int]]) -> None:
        """Raises what embed() would raise for these inputs (400s), without running them."""
        check_embedding_inputs(inputs, n_vocab=self.model_info.n_vocab, max_tokens=self.config.max_model_len)

    async def embed(self, inputs: list[list[int]]) -> list[np.ndarray]:
        """The L2-normalised embedding (a read-only float32 vector) of each input's token ids.

        The inputs join the batches the engine thread runs between generation steps, together
        with those of every other call waiting. Cancelling the await drops the inputs not yet run.
        """
        self._check_alive()
        self.check_embedding_inputs(inputs)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[EmbeddingResult] = loop.create_future()

        def deliver(result: EmbeddingResult) -> None:  # on the engine thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, answer, result)

        job = EmbeddingJob(inputs, deliver)
        self._inbox.put(_Embed(job))
        try:
            result = await answer
        finally:
            job.is_cancelled = True  # read by the engine thread; a finished job is gone already
        if isinstance(result, BaseException):
            if isinstance(result, OpenmaasError):
                raise result
            raise EngineFailed(f"the engine failed while embedding: {result}")
        return result

    def embedding_counts(self) -> tuple[int, int]:
        """Embedding batches run and inputs embedded since the engine started (for tests and stats)."""
        return self._embeddings.num_batches, self._embeddings.num_inputs

    def _make_embedder(self) -> LlamaCppEmbedder:
        config = self.config
        return LlamaCppEmbedder(
            self._runner.model,
            # The longest input (max_model_len) must fit in one batch.
            max_batch_tokens=LlamaCppEmbedder.num_rows(max(config.max_model_len, config.max_num_batched_tokens)),
            max_batch_inputs=MAX_BATCH_INPUTS,
            num_threads=config.resolved_num_threads,
        )

    def abort(self, request_id: str) -> None:
        self._inbox.put(_Abort(request_id))

    def drop_session(self, session_id: str) -> None:
        """Frees the KV a session kept, if any (between steps; no waiting)."""
        self.call_in_engine(lambda core: core.drop_session(session_id))

    def stats(self) -> EngineStats:
        return self._core.stats()

    async def consistent_stats(self) -> EngineStats:
        """Stats read between engine steps, so the counters agree with each other."""
        stats: EngineStats = await asyncio.wrap_future(self.call_in_engine(EngineCore.stats))
        return stats

    def call_in_engine(self, fn: Callable[[EngineCore], Any]) -> Future[Any]:
        """Runs fn(core) on the engine thread between steps, after every message sent before it.

        So a call made after a request was aborted sees the abort applied.
        """
        result: Future[Any] = Future()
        self._inbox.put(_Call(fn, result))
        return result

    def is_healthy(self) -> bool:
        return self._fatal is None and self._thread.is_alive()

    def close(self) -> None:
        """Stops the engine thread and frees the model."""
        if self._thread.is_alive():
            self._inbox.put(_Stop())
            self._thread.join()
        with self._structured_lock:  # a build in progress reads the vocabulary
            pass
        self._prompt_bytes.close()  # so does the scan for the longest token
        self._embeddings.close()  # its context uses the model's weights: freed first
        self._runner.close()

    def _check_alive(self) -> None:
        if not self.is_healthy():
            raise EngineDead("the engine for this model has stopped")

    # The engine thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                if not self._drain_inbox(block=not (self._core.has_work() or self._embeddings.has_work())):
                    self._embeddings.fail_all(ShuttingDown("the engine stopped before embedding this input"))
                    return
                # One embeddings batch per iteration, so generation steps keep running between batches.
                self._embeddings.run_batch()
                try:
                    outputs = self._core.step()
                except Exception as exc:  # a failed decode must not kill the thread
                    logger.exception("engine step failed; failing the requests in flight")
                    outputs = self._core.fail_all(f"engine step failed: {exc}")
                if outputs:
                    self._deliver(outputs)
        except BaseException as exc:
            self._fatal = exc
            logger.exception("engine thread died")
            raise

    def _drain_inbox(self, *, block: bool) -> bool:
        """Applies queued adds and aborts; False when asked to stop."""
        aborted: list[EngineOutput] = []
        try:
            message = self._inbox.get(block=block)
            while True:
                if isinstance(message, _Stop):
                    return False
                if isinstance(message, _Add):
                    self._core.add_request(message.request)
                elif isinstance(message, _AbortAll):
                    aborted.extend(self._core.abort_all())
                elif isinstance(message, _Call):
                    self._run_call(message)
                elif isinstance(message, _Embed):
                    self._embeddings.add(message.job)
                else:
                    output = self._core.abort(message.request_id)
                    if output is not None:
                        aborted.append(output)
                message = self._inbox.get_nowait()
        except queue.Empty:
            pass
        if aborted:
            self._deliver(aborted)
        return True

    def _run_call(self, call: _Call) -> None:
        try:
            call.result.set_result(call.fn(self._core))
        except Exception as exc:
            call.result.set_exception(exc)

    def _deliver(self, outputs: list[EngineOutput]) -> None:
        """Hands a step's outputs to their event loops, one wake-up per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[EngineOutput], EngineOutput]]] = {}
        for output in outputs:
            entry = self._queues.get(output.request_id)
            if entry is not None:
                by_loop.setdefault(entry[0], []).append((entry[1], output))
        for loop, items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_put_all, items)


def _settle(answer: asyncio.Future[EmbeddingResult], result: EmbeddingResult) -> None:
    if not answer.done():  # a cancelled call's answer is dropped
        answer.set_result(result)


def _put_all(items: list[tuple[asyncio.Queue[EngineOutput], EngineOutput]]) -> None:
    for target, output in items:
        target.put_nowait(output)
