"""Scheduler over KVCacheManager and a recording fake memory: what each step plans, without a model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from openmaas.engine.config import EngineConfig
from openmaas.engine.kv_cache import KVCacheManager
from openmaas.engine.request import Request, RequestStatus
from openmaas.engine.scheduler import PromptChunk, Scheduler, StepPlan
from openmaas.errors import InvalidRequest
from tests.engine.factories import RecordingMemory, make_request, tokens


def chunks(plan: StepPlan) -> list[tuple[str, int, int]]:
    return [(c.request.request_id, c.start, c.num_tokens) for c in plan.prompts]


def ids(requests: Any) -> list[str]:
    return [r.request_id for r in requests]


class Harness:
    """A scheduler plus what the engine core does with each step's plan."""

    def __init__(self, **config: Any) -> None:
        defaults: dict[str, Any] = dict(
            max_num_seqs=4,
            max_num_batched_tokens=16,
            num_cache_slots=3,
            prefill_chunk_size=8,
            min_defer_prefix=8,
        )
        self.config = EngineConfig(model_path="unused.gguf", **(defaults | config))
        self.memory = RecordingMemory()
        self.kv = KVCacheManager(
            self.config.max_num_seqs,
            self.config.num_cache_slots,
            self.memory,
            chunk_size=self.config.prefill_chunk_size,
        )
        self.scheduler = Scheduler(self.config, self.kv)
        self._next_token = 50_000

    def add(self, request_id: str, prompt: list[int]) -> Request:
        request = make_request(request_id, prompt)
        self.scheduler.add(request)
        return request

    def _sample(self) -> int:
        self._next_token += 1
        return self._next_token

    def step(self) -> StepPlan:
        decoding_before = list(self.scheduler.decoding)
        plan = self.scheduler.schedule()
        self.kv.check_invariants()
        # Every decoding request decodes, every step, in slot order.
        assert plan.decode == decoding_before
        assert [r.slot_id for r in plan.decode] == list(range(len(plan.decode)))
        budget = self.config.max_num_batched_tokens - len(plan.decode)
        assert sum(c.num_tokens for c in plan.prompts) <= budget
        assert len(plan.decode) + len({id(c.request) for c in plan.prompts}) <= self.config.max_num_seqs
        # Every chunk is a whole chunk of the fixed layout: it starts at a multiple of the
        # chunk size and runs to the next one, or to the end of the prompt.
        size = self.config.prefill_chunk_size
        for c in plan.prompts:
            assert c.start % size == 0
            assert c.num_tokens == min(size, c.request.num_prompt_tokens - c.start)
        for request in plan.decode:
            request.num_computed_tokens += 1
            request.token_ids.append(self._sample())
        for chunk in plan.prompts:
            request = chunk.request
            assert chunk.num_tokens > 0
            assert chunk.start == request.num_computed_tokens
            assert request.slot_id is not None and request.slot_id >= self.kv.decode_region_size
            request.num_computed_tokens += chunk.num_tokens
            assert chunk.completes_prompt == (request.num_computed_tokens == request.num_prompt_tokens)
            if chunk.completes_prompt:
                request.token_ids.append(self._sample())
                self.scheduler.prompt_done(request)
        self.kv.check_invariants()
        return plan

    def finish(self, request: Request) -> None:
        self.scheduler.finish(request)
        self.kv.check_invariants()


def test_one_request_from_prompt_to_finish() -> None:
    h = Harness(max_num_batched_tokens=16, prefill_chunk_size=8)
    a = h.add("a", tokens(100, 10))
    assert list(h.scheduler.waiting) == [a]
    assert h.scheduler.waiting[0].status is RequestStatus.WAITING
    assert h.scheduler.has_work()

    plan = h.step()
    assert plan.decode == []
    assert chunks(plan) == [("a", 0, 8), ("a", 8, 2)]
    assert [c.completes_prompt for c in plan.prompts] == [False, True]
    assert h.scheduler.decoding[0].status is RequestStatus.RUNNING
    assert a.num_cached_tokens == 0
    assert h.scheduler.decoding == [a]
    assert h.scheduler.prefilling == []
    assert a.slot_id == 0
    assert h.memory.take() == [("trim", 16, 0), ("copy", 16, 0)]

    for n in range(3):
        plan = h.step()
        assert plan.decode == [a]
        assert plan.prompts == []
        assert a.num_output_tokens == n + 2
        assert a.num_computed_tokens == 10 + n + 1
    assert h.memory.ops == []

    h.finish(a)
    assert a.status is RequestStatus.FINISHED
    assert a.slot_id is None
    assert h.memory.take() == [("trim", 0, 0)]
    assert not h.scheduler.has_work()
    assert h.step().is_empty
    assert h.kv.num_free_slots + h.kv.num_cached_slots == h.kv.num_total_slots


def test_long_prompt_is_chunked_while_decodes_continue() -> None:
    h = Harness(max_num_batched_tokens=16, prefill_chunk_size=8)
    a = h.add("a", tokens(100, 5))
    h.step()
    assert h.scheduler.decoding == [a]
    b = h.add("b", tokens(200, 40))

    # 15 tokens of budget are left beside a's decode: one whole 8-token chunk a step,
    # never a second chunk cut to 7 tokens.
    expected = [("b", 0, 8), ("b", 8, 8), ("b", 16, 8), ("b", 24, 8), ("b", 32, 8)]
    for i, chunk in enumerate(expected):
        outputs_before = a.num_output_tokens
        plan = h.step()
        assert plan.decode == [a]
        assert chunks(plan) == [chunk]
        assert a.num_output_tokens == outputs_before + 1
        assert plan.prompts[0].completes_prompt == (i == len(expected) - 1)
        assert h.scheduler.prefilling == ([] if i == len(expected) - 1 else [b])
    assert b.num_computed_tokens == 40
    assert h.scheduler.decoding == [a, b]

    plan = h.step()
    assert plan.decode == [a, b]
    assert plan.prompts == []


@pytest.mark.parametrize(("num_decoding", "num_chunks"), [(0, 3), (1, 3), (2, 2), (3, 2)])
def test_prompt_budget_is_what_the_decodes_leave(num_decoding: int, num_chunks: int) -> None:
    # 13 - num_decoding tokens are left for 4-token chunks.
    h = Harness(max_num_seqs=4, max_num_batched_tokens=13, prefill_chunk_size=4)
    decoders = [h.add(f"d{i}", tokens(1000 * (i + 1), 2)) for i in range(num_decoding)]
    if decoders:
        plan = h.step()
        assert chunks(plan) == [(d.request_id, 0, 2) for d in decoders]
    assert h.scheduler.decoding == decoders
    h.add("long", tokens(100, 50))
    plan = h.step()
    assert plan.decode == decoders
    assert chunks(plan) == [("long", 4 * i, 4) for i in range(num_chunks)]
    plan = h.step()
    assert chunks(plan) == [("long", 4 * i, 4) for i in range(num_chunks, 2 * num_chunks)]


def test_prompt_chunks_are_given_oldest_first() -> None:
    h = Harness(max_num_batched_tokens=16, prefill_chunk_size=8)
    h.add("a", tokens(100, 20))
    h.add("b", tokens(200, 20))
    h.add("c", tokens(300, 3))

    # The oldest prompt takes the whole budget; nobody else starts.
    plan = h.step()
    assert chunks(plan) == [("a", 0, 8), ("a", 8, 8)]
    assert ids(h.scheduler.prefilling) == ["a"]
    assert ids(h.scheduler.waiting) == ["b", "c"]

    # a finishes its prompt first; b starts with what is left, but its second chunk
    # (8 tokens) does not fit in the 4 left, while c's whole prompt (3) does.
    plan = h.step()
    assert chunks(plan) == [("a", 16, 4), ("b", 0, 8), ("c", 0, 3)]
    assert not h.scheduler.waiting
    assert ids(h.scheduler.prefilling) == ["b"]

    plan = h.step()
    assert ids(plan.decode) == ["a", "c"]
    assert chunks(plan) == [("b", 8, 8), ("b", 16, 4)]
    assert ids(h.scheduler.decoding) == ["a", "c", "b"]


def test_max_num_seqs_caps_running_requests() -> None:
    h = Harness(max_num_seqs=2, max_num_batched_tokens=64, num_cache_slots=3)
    a, b, c, d = (h.add(name, tokens(100 * (i + 1), 5)) for i, name in enumerate("abcd"))
    plan = h.step()
    assert chunks(plan) == [("a", 0, 5), ("b", 0, 5)]
    assert ids(h.scheduler.waiting) == ["c", "d"]
    assert (c.status, d.status) == (RequestStatus.WAITING, RequestStatus.WAITING)

    for _ in range(2):
        plan = h.step()
        assert plan.decode == [a, b]
        assert plan.prompts == []
        assert h.scheduler.num_running == 2

    h.finish(a)
    plan = h.step()
    assert plan.decode == [b]
    assert chunks(plan) == [("c", 0, 5)]
    assert ids(h.scheduler.waiting) == ["d"]
    assert h.scheduler.decoding == [b, c]


def test_prompt_slots_cap_concurrent_prefills() -> None:
    h = Harness(max_num_seqs=4, max_num_batched_tokens=64, num_cache_slots=1)
    h.add("a", tokens(100, 5))
    h.add("b", tokens(200, 5))
    plan = h.step()
    assert chunks(plan) == [("a", 0, 5)]
    assert ids(h.scheduler.waiting) == ["b"]
    plan = h.step()
    assert ids(plan.decode) == ["a"]
    assert chunks(plan) == [("b", 0, 5)]
    assert h.kv.num_evictions == 1


@pytest.mark.parametrize("min_defer_prefix", [8, 24])  # b could gain 24 tokens by waiting
def test_shared_prefix_waits_for_the_prefill_that_computes_it(min_defer_prefix: int) -> None:
    h = Harness(max_num_batched_tokens=64, prefill_chunk_size=8, min_defer_prefix=min_defer_prefix)
    system = tokens(1000, 24)
    a = h.add("a", system + [1, 2])
    b = h.add("b", system + [3, 4, 5])
    c = h.add("c", tokens(5000, 6))  # shares nothing

    plan = h.step()
    assert chunks(plan) == [("a", 0, 8), ("a", 8, 8), ("a", 16, 8), ("a", 24, 2), ("c", 0, 6)]
    assert ids(h.scheduler.waiting) == ["b"]
    assert b.status is RequestStatus.WAITING
    assert b.slot_id is None
    assert h.memory.take() == [("trim", 16, 0), ("trim", 17, 0), ("copy", 16, 0), ("copy", 17, 1)]

    # a's prompt is computed and cached in its prompt slot: b adopts it.
    plan = h.step()
    assert plan.decode == [a, c]
    assert chunks(plan) == [("b", 24, 3)]
    assert b.num_cached_tokens == 24
    assert b.slot_id == 2  # its 3 remaining prompt tokens ran: it decodes now
    assert h.memory.take() == [("trim", 16, 24), ("copy", 16, 2)]
    assert h.kv.num_adoptions == 1
    assert h.scheduler.decoding == [a, c, b]


def test_shared_prefix_below_min_defer_prefix_is_not_deferred() -> None:
    h = Harness(max_num_batched_tokens=64, prefill_chunk_size=8, min_defer_prefix=25)
    system = tokens(1000, 24)
    h.add("a", system + [1, 2])
    b = h.add("b", system + [3, 4, 5])
    plan = h.step()
    assert chunks(plan) == [
        ("a", 0, 8),
        ("a", 8, 8),
        ("a", 16, 8),
        ("a", 24, 2),
        ("b", 0, 8),
        ("b", 8, 8),
        ("b", 16, 8),
        ("b", 24, 3),
    ]
    assert b.num_cached_tokens == 0
    assert not h.scheduler.waiting


def test_deferral_counts_whole_chunks_only() -> None:
    # 15 shared tokens are only one reusable 8-token chunk: less than min_defer_prefix=9.
    h = Harness(max_num_batched_tokens=64, prefill_chunk_size=8, min_defer_prefix=9)
    system = tokens(1000, 15)
    h.add("a", system + [1, 2])
    b = h.add("b", system + [3, 4, 5])
    plan = h.step()
    assert ids(c.request for c in plan.prompts) == ["a", "a", "a", "b", "b", "b"]
    assert b.num_cached_tokens == 0


def test_deferred_request_keeps_its_place_in_the_queue() -> None:
    h = Harness(max_num_seqs=4, max_num_batched_tokens=64, num_cache_slots=2, min_defer_prefix=8)
    system = tokens(1000, 24)
    h.add("a", system + [1, 2])
    h.add("b", system + [3, 4, 5])
    h.add("c", tokens(5000, 6))
    h.add("d", tokens(6000, 6))
    plan = h.step()
    # b is deferred, c takes the last prompt slot, d has to wait behind b.
    assert ids(c.request for c in plan.prompts) == ["a", "a", "a", "a", "c"]
    assert ids(h.scheduler.waiting) == ["b", "d"]


def test_no_deferral_when_the_prefix_is_already_available() -> None:
    h = Harness(max_num_batched_tokens=64, prefill_chunk_size=8, min_defer_prefix=8)
    system = tokens(1000, 24)
    r0 = h.add("r0", system + [9])
    h.step()
    h.finish(r0)  # e.g. max_tokens=1: its prompt stays cached in prompt slot 7
    h.memory.take()

    a = h.add("a", system + [1, 2])
    b = h.add("b", system + [3, 4, 5])
    plan = h.step()
    # a adopts the cache entry; b copies the same prefix from a's slot instead of waiting.
    assert chunks(plan) == [("a", 24, 2), ("b", 24, 3)]
    assert (a.num_cached_tokens, b.num_cached_tokens) == (24, 24)
    assert h.memory.take() == [
        ("trim", 16, 24),
        ("copy", 16, 17),
        ("trim", 17, 24),
        ("copy", 16, 0),
        ("copy", 17, 1),
    ]
    assert h.scheduler.decoding == [a, b]


def test_finish_while_prefilling_or_waiting() -> None:
    h = Harness(max_num_seqs=1, max_num_batched_tokens=16, prefill_chunk_size=8)
    a = h.add("a", tokens(100, 30))
    b = h.add("b", tokens(200, 5))
    plan = h.step()
    assert chunks(plan) == [("a", 0, 8), ("a", 8, 8)]
    assert h.scheduler.find("a") is a
    assert h.scheduler.find("b") is b
    assert h.scheduler.find("zzz") is None

    h.finish(b)
    assert b.status is RequestStatus.FINISHED
    assert not h.scheduler.waiting
    h.memory.take()
    h.finish(a)
    assert a.status is RequestStatus.FINISHED
    assert h.scheduler.prefilling == []
    assert h.memory.ops == []  # the 16 computed tokens stay as a cache entry
    assert h.kv.num_cached_slots == 1
    assert not h.scheduler.has_work()

    # A later request with the same prompt reuses them.
    c = h.add("c", tokens(100, 30))
    plan = h.step()
    assert chunks(plan) == [("c", 16, 8), ("c", 24, 6)]
    assert c.num_cached_tokens == 16


def test_many_requests_drain_and_return_every_slot() -> None:
    h = Harness(max_num_seqs=3, max_num_batched_tokens=8, prefill_chunk_size=4, num_cache_slots=2)
    system = tokens(1000, 10)
    requests = [h.add(f"r{i}", (system if i % 2 else []) + tokens(2000 + 100 * i, 3 + 2 * i)) for i in range(7)]
    outputs = {r.request_id: 0 for r in requests}
    for _ in range(200):
        if not h.scheduler.has_work():
            break
        plan = h.step()
        assert not plan.is_empty
        for r in list(h.scheduler.decoding):
            if r.num_output_tokens >= 4:
                outputs[r.request_id] = r.num_output_tokens
                h.finish(r)
    assert not h.scheduler.has_work()
    assert outputs == {r.request_id: 4 for r in requests}
    assert all(r.is_finished and r.slot_id is None for r in requests)
    assert h.kv.num_free_slots + h.kv.num_cached_slots == h.kv.num_total_slots


def test_prompt_chunk_completes_prompt() -> None:
    r = make_request("r", tokens(100, 10))
    assert PromptChunk(r, 0, 10).completes_prompt
    assert PromptChunk(r, 8, 2).completes_prompt
    assert not PromptChunk(r, 0, 8).completes_prompt


@pytest.mark.parametrize(
    ("config", "param"),
    [
        (
            {"max_num_seqs": 4, "prefill_chunk_size": 8, "max_num_batched_tokens": 11},
            "max_num_batched_tokens",
        ),
        ({"prefill_chunk_size": 6}, "prefill_chunk_size"),
        ({"prefill_chunk_size": 0}, "prefill_chunk_size"),
    ],
)
def test_invalid_budgets_are_rejected(config: dict[str, int], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        EngineConfig(model_path="unused.gguf", **config)
    assert info.value.param == param


def test_smallest_valid_budget_is_accepted() -> None:
    config = EngineConfig(model_path="unused.gguf", max_num_seqs=4, prefill_chunk_size=8, max_num_batched_tokens=12)
    assert config.max_num_batched_tokens == 12


class ShadowMemory:
    """A KVMemory that really holds, per slot, the token ids whose KV it stores."""

    def __init__(self, num_slots: int) -> None:
        self.slots: list[list[int]] = [[] for _ in range(num_slots)]

    def copy_sequence(self, src_slot: int, dst_slot: int) -> None:
        self.slots[dst_slot] = list(self.slots[src_slot])

    def trim_sequence(self, slot: int, num_keep: int) -> None:
        del self.slots[slot][num_keep:]

    def first_kept_position(self, slot: int) -> int:
        return 0


@pytest.mark.parametrize("seed", range(12))
def test_bookkeeping_matches_what_the_slots_really_hold(seed: int) -> None:
    """Random traffic with shared prefixes: every chunk and decode finds exactly its context in its slot."""
    rng = np.random.default_rng(seed)
    max_num_seqs = int(rng.integers(1, 5))
    chunk_size = int(rng.choice([4, 8]))
    config = EngineConfig(
        model_path="unused.gguf",
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=int(rng.integers(max_num_seqs + chunk_size, 32)),
        num_cache_slots=int(rng.integers(1, 4)),
        prefill_chunk_size=chunk_size,
        min_defer_prefix=int(rng.integers(1, 10)),
    )
    memory = ShadowMemory(config.num_seq_slots)
    kv = KVCacheManager(config.max_num_seqs, config.num_cache_slots, memory, chunk_size=config.prefill_chunk_size)
    scheduler = Scheduler(config, kv)
    systems = [[int(t) for t in rng.integers(0, 4, int(rng.integers(4, 20)))] for _ in range(2)]
    requests: list[Request] = []
    for step in range(80):
        if step < 50 and rng.random() < 0.4:
            prefix = systems[int(rng.integers(0, 2))] if rng.random() < 0.7 else []
            prompt = prefix + [int(t) for t in rng.integers(0, 4, int(rng.integers(1, 10)))]
            requests.append(make_request(f"r{step}", prompt))
            scheduler.add(requests[-1])
        plan = scheduler.schedule()
        kv.check_invariants()
        for slot in kv.pad_slots():
            assert memory.slots[slot] == []
        for r in plan.decode:
            assert r.slot_id is not None
            assert memory.slots[r.slot_id] == r.token_ids[: r.num_computed_tokens]
            memory.slots[r.slot_id].append(r.token_ids[-1])
            r.num_computed_tokens += 1
            r.token_ids.append(int(rng.integers(0, 4)))
        for chunk in plan.prompts:
            r = chunk.request
            assert r.slot_id is not None
            assert memory.slots[r.slot_id] == r.token_ids[: chunk.start]
            memory.slots[r.slot_id].extend(r.token_ids[chunk.start : chunk.start + chunk.num_tokens])
            r.num_computed_tokens += chunk.num_tokens
            if chunk.completes_prompt:
                r.token_ids.append(int(rng.integers(0, 4)))
                scheduler.prompt_done(r)
        kv.check_invariants()
        for r in [*scheduler.decoding, *scheduler.prefilling, *scheduler.waiting]:
            if r.num_output_tokens >= 3 or rng.random() < 0.03:
                scheduler.finish(r)
                kv.check_invariants()
    for r in [*scheduler.decoding, *scheduler.prefilling, *scheduler.waiting]:
        scheduler.finish(r)
    assert all(r.is_finished and r.slot_id is None for r in requests)
    assert kv.num_free_slots + kv.num_cached_slots == kv.num_total_slots
    assert all(memory.slots[slot] == [] for slot in range(kv.decode_region_size))
