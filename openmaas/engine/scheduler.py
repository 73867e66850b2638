"""Scheduler: continuous batching under a token budget.

Each step has two parts. Every decoding request contributes its next token
to one decode batch, so the streams already running never stall. What is
left of the token budget goes to prompt chunks, oldest prompt first, and new
requests join between steps while a slot is free. A slot holds a whole
context, so no request is ever preempted.

One rule covers prefill, chunked prefill and prefix-cache hits alike: a
request computes ``token_ids[num_computed_tokens:]``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from openmaas.engine.config import EngineConfig
from openmaas.engine.kv_cache import KVCacheManager, common_prefix_length
from openmaas.engine.request import Request, RequestStatus


@dataclass(frozen=True, slots=True)
class PromptChunk:
    """Prompt tokens of one request to compute this step, from position ``start``."""

    request: Request
    start: int
    num_tokens: int

    @property
    def completes_prompt(self) -> bool:
        # Only the chunk that ends the prompt needs logits: each logits row
        # costs a 262k-wide output projection.
        return self.start + self.num_tokens == self.request.num_prompt_tokens


@dataclass(slots=True)
class StepPlan:
    decode: list[Request] = field(default_factory=list)
    prompts: list[PromptChunk] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.decode and not self.prompts

    @property
    def num_sequences(self) -> int:
        """Distinct requests computed this step (a prompt may run several chunks)."""
        return len(self.decode) + len({id(chunk.request) for chunk in self.prompts})


class Scheduler:
    """Pure bookkeeping over the waiting, prefilling and decoding requests; no model inside."""

    def __init__(self, config: EngineConfig, kv_cache: KVCacheManager) -> None:
        self._config = config
        self.kv_cache = kv_cache
        self.waiting: deque[Request] = deque()
        # Requests holding a prompt slot, oldest first.
        self.prefilling: list[Request] = []

    @property
    def decoding(self) -> list[Request]:
        return self.kv_cache.decoding

    @property
    def num_running(self) -> int:
        return len(self.prefilling) + len(self.decoding)

    def add(self, request: Request) -> None:
        self.waiting.append(request)

    def has_work(self) -> bool:
        return bool(self.waiting or self.prefilling or self.decoding)

    def schedule(self) -> StepPlan:
        plan = StepPlan(decode=list(self.decoding))
        budget = self._config.max_num_batched_tokens - len(plan.decode)
        for request in self.prefilling:
            budget = self._add_chunks(plan, request, budget)
        deferred: list[Request] = []
        while self.waiting and budget > 0 and self.num_running < self._config.max_num_seqs:
            if not self.kv_cache.can_start_prompt():
                break
            request = self.waiting.popleft()
            if self.kv_cache.resume(request):
                # Its session's KV holds all but its last token: it decodes from this very step.
                request.status = RequestStatus.RUNNING
                plan.decode.append(request)
                budget -= 1
                continue
            if self._should_wait_for_shared_prefill(request):
                deferred.append(request)
                continue
            request.num_computed_tokens = request.num_cached_tokens = self.kv_cache.start_prompt(request)
            request.status = RequestStatus.RUNNING
            self.prefilling.append(request)
            budget = self._add_chunks(plan, request, budget)
        self.waiting.extendleft(reversed(deferred))
        return plan

    def prompt_done(self, request: Request) -> None:
        """A request whose prompt is computed moves to the decode batch."""
        self.prefilling.remove(request)
        self.kv_cache.start_decode(request)

    def finish(self, request: Request, *, keep_session: bool = False) -> None:
        """Removes a request that is done (or aborted) and frees its slot (kept for its session if asked)."""
        request.status = RequestStatus.FINISHED
        if request in self.prefilling:
            self.prefilling.remove(request)
        elif request in self.waiting:
            self.waiting.remove(request)
        self.kv_cache.free(request, keep_session=keep_session)

    def find(self, request_id: str) -> Request | None:
        for group in (self.decoding, self.prefilling, self.waiting):
            for request in group:
                if request.request_id == request_id:
                    return request
        return None

    def _add_chunks(self, plan: StepPlan, request: Request, budget: int) -> int:
        """Adds request's next whole prompt chunks that fit in budget; returns the budget left.

        Chunks start at multiples of the chunk size and are never cut by the
        budget: a prompt's chunk layout must not depend on the load.
        """
        size = self._config.prefill_chunk_size
        start = request.num_computed_tokens + sum(c.num_tokens for c in plan.prompts if c.request is request)
        while start < request.num_prompt_tokens:
            num_tokens = min(size - start % size, request.num_prompt_tokens - start)
            if num_tokens > budget:
                break
            plan.prompts.append(PromptChunk(request, start, num_tokens))
            budget -= num_tokens
            start += num_tokens
        return budget

    def _should_wait_for_shared_prefill(self, request: Request) -> bool:
        """True when a prompt still being prefilled shares a long prefix this prompt could copy later.

        Requests that arrive together with one system prompt would otherwise
        each compute it; waiting a step or two lets them copy it instead.
        """
        prompt = request.token_ids[: request.num_prompt_tokens]
        reusable = self.kv_cache.reusable_length
        have = self.kv_cache.longest_match(prompt)
        available = reusable(have.num_tokens, len(prompt)) if have else 0
        for other in self.prefilling:
            planned = reusable(common_prefix_length(prompt, other.prompt_token_ids), len(prompt))
            if planned - available >= self._config.min_defer_prefix:
                return True
        return False
