"""Embedding jobs and their batching: the engine's second entry point, beside generation.

A job is one API call's inputs (token ids). Jobs wait in one FIFO queue; each
engine iteration runs one batch, filled with the waiting inputs of every job in
arrival order up to a token budget, so concurrent calls share a
``llama_decode``. A job is answered once all its inputs are done. Pure
bookkeeping over an ``Embedder``; the llama.cpp side is
``runners/llama_cpp_embeddings.py``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from openmaas.errors import ContextLengthExceeded, InvalidRequest

logger = logging.getLogger(__name__)

# Inputs in one llama_decode (with the padding's, 64 sequence ids in the embeddings context).
MAX_BATCH_INPUTS = 63

EmbeddingResult = list[np.ndarray] | BaseException


class Embedder(Protocol):
    max_batch_tokens: int
    max_batch_inputs: int

    def num_rows(self, num_tokens: int) -> int: ...

    def embed_batch(self, inputs: list[list[int]]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class EmbeddingJob:
    """One call's inputs; ``deliver`` is called once, on the engine thread, with the vectors or an error."""

    inputs: list[list[int]]
    deliver: Callable[[EmbeddingResult], None]
    results: list[np.ndarray | None] = field(init=False)
    # Inputs handed to a batch so far (they run in order).
    num_started: int = 0
    num_done: int = 0
    is_cancelled: bool = False

    def __post_init__(self) -> None:
        self.results = [None] * len(self.inputs)


def check_embedding_inputs(inputs: list[list[int]], *, n_vocab: int, max_tokens: int) -> None:
    """Raises InvalidRequest (400) for an input the model cannot embed, naming which."""
    if not inputs:
        raise InvalidRequest("input must not be empty", param="input")
    for index, tokens in enumerate(inputs):
        if not tokens:
            raise InvalidRequest(f"input[{index}] is empty: there is nothing to embed", param="input")
        if len(tokens) > max_tokens:
            raise ContextLengthExceeded(
                f"input[{index}] has {len(tokens)} tokens; this model embeds at most {max_tokens} per input",
                param="input",
            )
        if any(not 0 <= token < n_vocab for token in tokens):
            raise InvalidRequest(f"input[{index}] has token ids outside [0, {n_vocab})", param="input")


class EmbeddingBatcher:
    """Queues embedding jobs and runs them in shared batches; touched only by the engine thread.

    ``batch_tokens`` is the budget of one batch: inputs join a batch while they fit in it
    (an input longer than the budget runs alone), which bounds how long one batch holds
    up the generation steps between which it runs. The embedder is built on first use,
    so a model that never embeds never pays for the context.
    """

    def __init__(self, make_embedder: Callable[[], Embedder], *, batch_tokens: int) -> None:
        self._make_embedder = make_embedder
        self._embedder: Embedder | None = None
        self._batch_tokens = batch_tokens
        self._jobs: deque[EmbeddingJob] = deque()
        self.num_batches = 0
        self.num_inputs = 0

    def add(self, job: EmbeddingJob) -> None:
        self._jobs.append(job)

    def has_work(self) -> bool:
        return bool(self._jobs)

    def run_batch(self) -> None:
        """Runs one batch of waiting inputs and answers the jobs it completes (or fails)."""
        self._drop_cancelled()
        if not self._jobs:
            return
        try:
            embedder = self._ensure_embedder()
        except Exception as exc:
            logger.exception("could not create the embeddings context")
            self._fail(list(self._jobs), exc)
            self._jobs.clear()
            return
        batch = self._next_batch(embedder)
        try:
            vectors = embedder.embed_batch([job.inputs[index] for job, index in batch])
        except Exception as exc:
            logger.exception("embeddings batch failed; failing its calls")
            failed = list(dict.fromkeys(job for job, _ in batch))
            self._fail(failed, exc)
            self._jobs = deque(job for job in self._jobs if job not in failed)
            return
        self.num_batches += 1
        self.num_inputs += len(batch)
        for (job, index), vector in zip(batch, vectors, strict=True):
            job.results[index] = vector
            job.num_done += 1
        while self._jobs and self._jobs[0].num_done == len(self._jobs[0].inputs):
            job = self._jobs.popleft()
            job.deliver([vector for vector in job.results if vector is not None])

    def _next_batch(self, embedder: Embedder) -> list[tuple[EmbeddingJob, int]]:
        """(job, input index) pairs in arrival order, within the token budget and the input cap."""
        batch: list[tuple[EmbeddingJob, int]] = []
        num_tokens = 0
        budget = min(self._batch_tokens, embedder.max_batch_tokens)
        for job in self._jobs:
            while job.num_started < len(job.inputs) and len(batch) < embedder.max_batch_inputs:
                size = embedder.num_rows(len(job.inputs[job.num_started]))
                if batch and num_tokens + size > budget:
                    return batch
                batch.append((job, job.num_started))
                job.num_started += 1
                num_tokens += size
            if len(batch) >= embedder.max_batch_inputs:
                break
        return batch

    def _drop_cancelled(self) -> None:
        # A cancelled job's started inputs have all finished (batches run whole), so it can go.
        if any(job.is_cancelled for job in self._jobs):
            self._jobs = deque(job for job in self._jobs if not job.is_cancelled)

    def _ensure_embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._make_embedder()
        return self._embedder

    @staticmethod
    def _fail(jobs: list[EmbeddingJob], exc: BaseException) -> None:
        for job in jobs:
            job.deliver(exc)

    def fail_all(self, exc: BaseException) -> None:
        """Answers every waiting job with exc (the engine is stopping)."""
        self._fail(list(self._jobs), exc)
        self._jobs.clear()

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
