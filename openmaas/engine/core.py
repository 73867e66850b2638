"""EngineCore: one synchronous step is schedule -> run -> sample -> update."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Protocol

import numpy as np

from openmaas.engine.beam import BeamSettings
from openmaas.engine.beam_job import BeamJob
from openmaas.engine.config import EngineConfig
from openmaas.engine.detokenizer import IncrementalDetokenizer
from openmaas.engine.invariance import check_seed_invariance
from openmaas.engine.kv_cache import KVCacheManager
from openmaas.engine.logprobs import TokenLogprob
from openmaas.engine.messages import EngineOutput, EngineStats, FinishReason
from openmaas.engine.request import Request, TokenConstraint
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.engine.sampler import Sampled, sample_batch
from openmaas.engine.sampling_params import SamplingParams, StructuredSpec
from openmaas.engine.scheduler import Scheduler, StepPlan
from openmaas.errors import ContextLengthExceeded, InvalidRequest

logger = logging.getLogger(__name__)


class StructuredOutputsLike(Protocol):
    def constraint_for(self, spec: StructuredSpec) -> TokenConstraint: ...


class EngineCore:
    """The hot loop's state. Not thread-safe: only the engine thread calls step()."""

    def __init__(self, config: EngineConfig, runner: LlamaCppRunner, *, check_invariants: bool = False) -> None:
        self.config = config
        self.runner = runner
        self.kv_cache = KVCacheManager(
            config.max_num_seqs,
            config.num_cache_slots,
            runner,
            chunk_size=config.prefill_chunk_size,
            swa_window=runner.swa_window,
        )
        self.scheduler = Scheduler(config, self.kv_cache)
        self._end_of_generation = runner.end_of_generation_ids()
        self._check_invariants = check_invariants
        # Before any request holds a slot: the probe uses the decode region and leaves it empty.
        self.seed_invariant = check_seed_invariance(runner, num_decode_slots=config.num_decode_slots)
        self._beams_waiting: deque[Request] = deque()
        self._beam_jobs: list[BeamJob] = []
        # Requests with a deadline (a timeout), checked at the start of each step.
        self._timed: list[Request] = []
        # Set once structured output is wired to this model's tokenizer.
        self.structured_outputs: StructuredOutputsLike | None = None
        self._num_steps = 0
        self._num_batched_steps = 0
        self._max_running_in_step = 0
        self._num_prompt_tokens = 0
        self._num_computed_prompt_tokens = 0
        self._num_cached_prompt_tokens = 0
        self._num_generated_tokens = 0

    # Requests -------------------------------------------------------------------
    def make_request(
        self, request_id: str, prompt_token_ids: list[int], params: SamplingParams, session_id: str | None = None
    ) -> Request:
        """Validates a prompt against this model and builds its Request (pure; any thread).

        session_id: keep the request's KV when it ends, and resume from what
        the session kept if prompt_token_ids continue it (kv_cache.py).
        """
        num_prompt = len(prompt_token_ids)
        if num_prompt == 0:
            raise InvalidRequest("the prompt is empty", param="prompt")
        n_vocab = self.runner.n_vocab
        if any(not 0 <= t < n_vocab for t in prompt_token_ids):
            raise InvalidRequest(f"prompt token ids must be in [0, {n_vocab})", param="prompt")
        room = self.config.max_model_len - num_prompt
        if room < 1:
            raise ContextLengthExceeded(
                f"this model's context is {self.config.max_model_len} tokens per request and the prompt "
                f"has {num_prompt}; shorten the prompt",
                param="prompt",
            )
        max_tokens = room if params.max_tokens is None else min(params.max_tokens, room)
        if any(not 0 <= t < n_vocab for t in params.stop_token_ids):
            raise InvalidRequest(f"stop_token_ids must be in [0, {n_vocab})", param="stop_token_ids")
        if any(not 0 <= t < n_vocab for t in params.logit_bias):
            raise InvalidRequest(f"logit_bias keys must be token ids in [0, {n_vocab})", param="logit_bias")
        if 2 * params.num_beams > self.config.num_cache_slots:
            raise InvalidRequest(
                f"num_beams can be at most {self.config.num_cache_slots // 2} on this server "
                "(a beam search holds 2 * num_beams cache slots)",
                param="num_beams",
            )
        constraint = None
        if params.structured is not None:
            if self.structured_outputs is None:
                raise InvalidRequest("structured output is not available for this model", param="response_format")
            constraint = self.structured_outputs.constraint_for(params.structured)
        stop_ids = set(params.stop_token_ids)
        if not params.ignore_eos:
            stop_ids |= self._end_of_generation
        return Request(
            request_id=request_id,
            token_ids=list(prompt_token_ids),
            num_prompt_tokens=num_prompt,
            params=params,
            max_tokens=max_tokens,
            stop_token_ids=frozenset(stop_ids),
            detokenizer=IncrementalDetokenizer(params.stop),
            # numpy seeds must be non-negative; any integer a client sends maps onto one.
            rng=np.random.default_rng(None if params.seed is None else params.seed % 2**64),
            constraint=constraint,
            session_id=session_id if params.num_beams == 1 else None,
        )

    def add_request(self, request: Request) -> None:
        self._num_prompt_tokens += request.num_prompt_tokens
        if request.params.num_beams > 1:
            self._beams_waiting.append(request)
        else:
            self.scheduler.add(request)
            if request.deadline is not None:
                self._timed.append(request)

    def abort(self, request_id: str) -> EngineOutput | None:
        request = self.scheduler.find(request_id)
        if request is not None:
            self._finish(request, FinishReason.ABORT)
            return self._output(request, "", ())
        for job in self._beam_jobs:
            if job.request.request_id == request_id:
                return self._end_beam_job(job, FinishReason.ABORT)
        for waiting in self._beams_waiting:
            if waiting.request_id == request_id:
                self._beams_waiting.remove(waiting)
                waiting.finish_reason = FinishReason.ABORT
                return self._output(waiting, "", ())
        return None

    def abort_all(self) -> list[EngineOutput]:
        """Aborts every request in the engine (the server is shutting down)."""
        ids = [r.request_id for r in (*self.scheduler.decoding, *self.scheduler.prefilling, *self.scheduler.waiting)]
        ids += [job.request.request_id for job in self._beam_jobs]
        ids += [request.request_id for request in self._beams_waiting]
        return [output for request_id in ids if (output := self.abort(request_id)) is not None]

    def fail_all(self, message: str) -> list[EngineOutput]:
        """Ends every request with an error (after a failed decode)."""
        outputs = []
        for request in [*self.scheduler.decoding, *self.scheduler.prefilling, *self.scheduler.waiting]:
            self._finish(request, FinishReason.ERROR)
            outputs.append(self._output(request, "", (), error=message))
        for job in list(self._beam_jobs):
            outputs.append(self._end_beam_job(job, FinishReason.ERROR, error=message))
        for request in self._beams_waiting:
            request.finish_reason = FinishReason.ERROR
            outputs.append(self._output(request, "", (), error=message))
        self._beams_waiting.clear()
        return outputs

    def drop_session(self, session_id: str) -> bool:
        """Frees the KV a session kept (its owner forgot it)."""
        return self.kv_cache.drop_session(session_id)

    def has_work(self) -> bool:
        return self.scheduler.has_work() or bool(self._beam_jobs or self._beams_waiting)

    # The step -------------------------------------------------------------------
    def step(self) -> list[EngineOutput]:
        expired = self._end_expired()
        plan = self.scheduler.schedule()
        outputs = expired + self._step_beam_jobs()
        if plan.is_empty:
            return outputs
        self._count_step(plan)
        if plan.decode:
            rows = [(r.slot_id or 0, r.token_ids[-1], r.num_computed_tokens) for r in plan.decode]
            pad = any(r.params.seed is not None for r in plan.decode)
            logits = self.runner.run_decode(rows, self.kv_cache.pad_slots() if pad else [], pad=pad)
            for request in plan.decode:
                request.num_computed_tokens += 1
            # Sampled before any prompt chunk runs: the logits are a view that the next decode overwrites.
            sampled = sample_batch([(r, logits[i]) for i, r in enumerate(plan.decode)])
            outputs.extend(self._append_token(r, s) for r, s in zip(plan.decode, sampled, strict=True))
        for chunk in plan.prompts:
            request = chunk.request
            tokens = request.token_ids[chunk.start : chunk.start + chunk.num_tokens]
            row = self.runner.run_prompt_chunk(request.slot_id or 0, tokens, chunk.start, chunk.completes_prompt)
            request.num_computed_tokens += chunk.num_tokens
            if row is None:
                continue
            (first,) = sample_batch([(request, row)])
            outputs.append(self._append_token(request, first))
            if not request.is_finished:
                self.scheduler.prompt_done(request)
        if self._check_invariants:
            self.check_invariants()
        return outputs

    def _end_expired(self) -> list[EngineOutput]:
        """Ends the requests whose deadline passed, as if they had reached their token limit."""
        if not self._timed:  # the common case costs nothing per step
            return []
        self._timed = [r for r in self._timed if not r.is_finished]
        now = time.monotonic()
        outputs = []
        for request in self._timed:
            if request.deadline is not None and now >= request.deadline:
                self._finish(request, FinishReason.LENGTH)
                outputs.append(self._output(request, request.detokenizer.finish(), ()))
        return outputs

    # Beam search ---------------------------------------------------------------------
    def _step_beam_jobs(self) -> list[EngineOutput]:
        """Starts waiting beam searches that have slots, and advances every running one by a step."""
        while self._beams_waiting:
            request = self._beams_waiting[0]
            settings = BeamSettings(
                request.params.num_beams, request.params.length_penalty, request.params.early_stopping
            )
            slots = self.kv_cache.reserve_prompt_slots(request, 2 * settings.num_beams)
            if slots is None:
                break
            self._beams_waiting.popleft()
            self._beam_jobs.append(BeamJob(request, settings, slots, self.config.prefill_chunk_size))
        outputs = []
        for job in list(self._beam_jobs):
            job.step(self.runner)
            if job.search.finished:
                outputs.append(self._end_beam_job(job, None))
        return outputs

    def _end_beam_job(self, job: BeamJob, reason: FinishReason | None, error: str | None = None) -> EngineOutput:
        self._beam_jobs.remove(job)
        self.kv_cache.release_prompt_slots(job.request)
        request = job.request
        tokens = job.result() if reason is None else []
        detokenizer = request.detokenizer
        text, stop = "", None
        for token in tokens:
            delta, stop = detokenizer.push(self.runner.token_piece(token))
            text += delta
            if stop is not None:
                break
        if stop is None:
            text += detokenizer.finish()
        if reason is None:
            reason = FinishReason.STOP if stop is not None or len(tokens) < request.max_tokens else FinishReason.LENGTH
        request.finish_reason = reason
        request.token_ids.extend(tokens)
        self._num_generated_tokens += len(tokens)
        return self._output(request, text, tuple(tokens), error=error)

    def _append_token(self, request: Request, sampled: Sampled) -> EngineOutput:
        token = sampled.token_id
        request.token_ids.append(token)
        self._num_generated_tokens += 1
        logprobs = () if sampled.logprob is None else (sampled.logprob,)
        if token in request.stop_token_ids:  # the sampler bans them until min_tokens
            self._finish(request, FinishReason.STOP, stop_reason=token)
            return self._output(request, request.detokenizer.finish(), (token,), logprobs=logprobs)
        text, stop = request.detokenizer.push(self.runner.token_piece(token))
        if request.constraint is not None:
            request.constraint.accept(token)
        if stop is not None:
            self._finish(request, FinishReason.STOP, stop_reason=stop)
        elif request.constraint is not None and request.constraint.is_finished():
            self._finish(request, FinishReason.STOP)
            text += request.detokenizer.finish()
        elif request.num_output_tokens >= request.max_tokens:
            self._finish(request, FinishReason.LENGTH)
            text += request.detokenizer.finish()
        return self._output(request, text, (token,), logprobs=logprobs)

    def _finish(self, request: Request, reason: FinishReason, stop_reason: str | int | None = None) -> None:
        request.finish_reason = reason
        request.stop_reason = stop_reason
        keep = request.session_id is not None and reason in (FinishReason.STOP, FinishReason.LENGTH)
        self.scheduler.finish(request, keep_session=keep)

    def _output(
        self,
        request: Request,
        text: str,
        token_ids: tuple[int, ...],
        *,
        error: str | None = None,
        logprobs: tuple[TokenLogprob, ...] = (),
    ) -> EngineOutput:
        return EngineOutput(
            request_id=request.request_id,
            text=text,
            token_ids=token_ids,
            num_prompt_tokens=request.num_prompt_tokens,
            num_cached_tokens=request.num_cached_tokens,
            num_output_tokens=request.num_output_tokens,
            finish_reason=request.finish_reason,
            stop_reason=request.stop_reason,
            error=error,
            logprobs=logprobs,
        )

    # Accounting -----------------------------------------------------------------
    def _count_step(self, plan: StepPlan) -> None:
        self._num_steps += 1
        if plan.num_sequences > 1:
            self._num_batched_steps += 1
        self._max_running_in_step = max(self._max_running_in_step, plan.num_sequences)
        for chunk in plan.prompts:
            self._num_computed_prompt_tokens += chunk.num_tokens
            if chunk.start == chunk.request.num_cached_tokens:  # its first chunk
                self._num_cached_prompt_tokens += chunk.request.num_cached_tokens
        for request in plan.decode:
            if request.num_output_tokens == 0:  # resumed from its session: its first step
                self._num_cached_prompt_tokens += request.num_cached_tokens

    def stats(self) -> EngineStats:
        kv = self.kv_cache
        return EngineStats(
            num_steps=self._num_steps,
            num_batched_steps=self._num_batched_steps,
            max_running_in_step=self._max_running_in_step,
            num_prompt_tokens=self._num_prompt_tokens,
            num_computed_prompt_tokens=self._num_computed_prompt_tokens,
            num_cached_prompt_tokens=self._num_cached_prompt_tokens,
            num_generated_tokens=self._num_generated_tokens,
            num_running=self.scheduler.num_running,
            num_waiting=len(self.scheduler.waiting),
            num_free_slots=kv.num_free_slots,
            num_cached_slots=kv.num_cached_slots,
            num_total_slots=kv.num_total_slots,
            num_session_resumes=kv.num_resumes,
            seed_invariant=self.seed_invariant,
        )

    def check_invariants(self) -> None:
        """Raises if the engine's bookkeeping is inconsistent; when idle, every slot is free or cached."""
        kv = self.kv_cache
        kv.check_invariants()
        if self.scheduler.num_running > self.config.max_num_seqs:
            raise AssertionError("more running requests than max_num_seqs")
        if len(self.scheduler.prefilling) != kv.num_prefilling:
            raise AssertionError("prefilling requests and owned prompt slots disagree")
        if not self.scheduler.has_work() and kv.num_free_slots + kv.num_cached_slots != kv.num_total_slots:
            raise AssertionError("idle engine but slots still owned")
