"""KVCacheManager: slot ids and the exact KV memory operations it issues, without a model."""

from __future__ import annotations

import pytest

from openmaas.engine.kv_cache import KVCacheManager, common_prefix_length
from openmaas.engine.request import Request
from tests.engine.factories import RecordingMemory, make_request, tokens

MAX_NUM_SEQS = 4
NUM_PROMPT_SLOTS = 3
CHUNK = 4  # prefixes are reused in whole chunks of this many tokens
# The decode region is [0, 16): MAX_NUM_SEQS rounded up to the 16 rows of a padded step; prompt slots follow it.
DECODE_REGION = 16
P0, P1, P2 = DECODE_REGION, DECODE_REGION + 1, DECODE_REGION + 2


@pytest.fixture
def memory() -> RecordingMemory:
    return RecordingMemory()


@pytest.fixture
def kv(memory: RecordingMemory) -> KVCacheManager:
    return KVCacheManager(MAX_NUM_SEQS, NUM_PROMPT_SLOTS, memory, chunk_size=CHUNK)


def start(kv: KVCacheManager, request: Request) -> int:
    """What the scheduler does on admission."""
    reused = kv.start_prompt(request)
    request.num_computed_tokens = request.num_cached_tokens = reused
    kv.check_invariants()
    return reused


def compute_prompt(request: Request, sampled: int = 99_999) -> None:
    """What the engine does when the last prompt chunk ran: KV computed, one token sampled."""
    request.num_computed_tokens = request.num_prompt_tokens
    request.token_ids.append(sampled)


def decode_steps(request: Request, n: int) -> None:
    for i in range(n):
        request.num_computed_tokens += 1
        request.token_ids.append(70_000 + i)


def to_decode(kv: KVCacheManager, request: Request) -> None:
    compute_prompt(request)
    kv.start_decode(request)
    kv.check_invariants()


def free(kv: KVCacheManager, request: Request) -> None:
    kv.free(request)
    kv.check_invariants()


def assert_all_free(kv: KVCacheManager) -> None:
    assert kv.decoding == []
    assert kv.num_prefilling == 0
    assert kv.num_free_slots + kv.num_cached_slots == kv.num_total_slots


# common_prefix_length -----------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], 0),
        ([1, 2, 3], [], 0),
        ([1, 2, 3], [2, 2, 3], 0),
        ([1, 2, 3], [1, 2, 4], 2),
        ([1, 2, 3], [1, 2, 3], 3),
        ([1, 2], [1, 2, 3, 4], 2),
        ([1, 2, 3, 4], [1, 2], 2),
        ([5, 1, 5], [5, 2, 5], 1),
    ],
)
def test_common_prefix_length(a: list[int], b: list[int], expected: int) -> None:
    assert common_prefix_length(a, b) == expected


# Layout ---------------------------------------------------------------------------


def test_layout_of_an_empty_cache(kv: KVCacheManager, memory: RecordingMemory) -> None:
    assert kv.decode_region_size == DECODE_REGION == 16
    assert kv.num_total_slots == 19
    assert kv.num_free_slots == 19
    assert kv.num_free_prompt_slots == 3
    assert kv.num_cached_slots == 0
    assert kv.num_prefilling == 0
    assert kv.can_start_prompt()
    assert kv.pad_slots() == list(range(16))
    assert memory.ops == []
    kv.check_invariants()


def test_zero_prompt_slots_is_rejected(memory: RecordingMemory) -> None:
    with pytest.raises(ValueError):
        KVCacheManager(MAX_NUM_SEQS, 0, memory)


# start_prompt ---------------------------------------------------------------------


def test_prompts_get_the_first_empty_prompt_slot(kv: KVCacheManager, memory: RecordingMemory) -> None:
    a = make_request("a", tokens(100, 20))
    b = make_request("b", tokens(200, 20))
    assert start(kv, a) == 0
    assert a.slot_id == P0
    assert memory.take() == [("trim", P0, 0)]
    assert start(kv, b) == 0
    assert b.slot_id == P1
    assert memory.take() == [("trim", P1, 0)]
    assert kv.num_prefilling == 2
    assert kv.num_free_prompt_slots == 1
    assert kv.num_free_slots == 16 + 1

    # A prompt freed before computing anything empties its slot, which is again the first empty one.
    free(kv, a)
    assert a.slot_id is None
    assert memory.take() == [("trim", P0, 0)]
    assert kv.num_cached_slots == 0
    c = make_request("c", tokens(300, 20))
    assert start(kv, c) == 0
    assert c.slot_id == P0
    assert memory.take() == [("trim", P0, 0)]
    assert kv.num_copies == kv.num_adoptions == kv.num_evictions == 0


def test_freed_prefilling_request_keeps_what_it_computed(kv: KVCacheManager, memory: RecordingMemory) -> None:
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    memory.take()
    a.num_computed_tokens = 12  # one chunk ran, then the request was aborted
    free(kv, a)
    assert memory.take() == []  # the slot keeps its KV as a cache entry
    assert kv.num_cached_slots == 1
    assert kv.num_free_prompt_slots == 2
    # Only the 12 computed tokens are reusable, though the whole prompt matches.
    b = make_request("b", prompt)
    assert start(kv, b) == 12
    assert b.slot_id == P0
    assert memory.take() == [("trim", P0, 12)]


def test_idle_cached_slot_is_adopted_and_trimmed_without_copy(kv: KVCacheManager, memory: RecordingMemory) -> None:
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    compute_prompt(a)
    free(kv, a)  # e.g. stopped on its first token
    assert memory.take() == [("trim", P0, 0)]
    assert kv.num_cached_slots == 1

    b = make_request("b", prompt[:12] + tokens(900, 8))
    assert start(kv, b) == 12
    assert b.slot_id == P0
    assert b.num_computed_tokens == 12
    assert memory.take() == [("trim", P0, 12)]
    assert (kv.num_adoptions, kv.num_copies, kv.num_evictions) == (1, 0, 0)
    assert kv.num_cached_slots == 0
    assert kv.num_prefilling == 1


@pytest.mark.parametrize(
    ("shared", "expected_slot", "expected_reuse"),
    [
        (CHUNK - 1, P1, 0),  # less than a chunk: not worth a slot, an empty one is taken
        (CHUNK, P0, CHUNK),
        (2 * CHUNK - 1, P0, CHUNK),
        (2 * CHUNK, P0, 2 * CHUNK),
        (3 * CHUNK + 1, P0, 3 * CHUNK),
    ],
)
def test_adoption_reuses_whole_chunks_only(
    kv: KVCacheManager, memory: RecordingMemory, shared: int, expected_slot: int, expected_reuse: int
) -> None:
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    compute_prompt(a)
    free(kv, a)
    memory.take()
    b = make_request("b", prompt[:shared] + tokens(900, 10))
    assert start(kv, b) == expected_reuse
    assert b.slot_id == expected_slot
    assert memory.take() == [("trim", expected_slot, expected_reuse)]
    assert kv.num_adoptions == (1 if expected_reuse else 0)
    assert kv.num_copies == 0


@pytest.mark.parametrize(
    ("num_shared", "num_prompt_tokens", "expected"),
    [
        (0, 10, 0),
        (3, 10, 0),
        (4, 10, 4),
        (7, 10, 4),
        (8, 10, 8),
        (9, 10, 8),
        (100, 10, 8),  # at most len - 1 = 9, rounded down to whole chunks
        (8, 9, 8),
        (8, 8, 4),  # a full 8-token match keeps its last chunk to compute
        (5, 5, 4),
        (1, 1, 0),
    ],
)
def test_reusable_length(kv: KVCacheManager, num_shared: int, num_prompt_tokens: int, expected: int) -> None:
    assert kv.reusable_length(num_shared, num_prompt_tokens) == expected


WINDOW = 8  # a sliding-window layer's attention window in the tests below


@pytest.mark.parametrize(
    ("num_shared", "first_kept", "expected"),
    [
        (12, 0, 12),  # nothing dropped: any prefix
        (12, 5, 12),  # position 12 attends back to 12 - 8 + 1 = 5: still held
        (12, 6, 0),  # position 5 is gone: the prefix cannot be reused at all
        (14, 5, 12),  # rounded down to whole chunks first, then checked: 12 needs 5
        (14, 6, 0),
        (16, 9, 16),
        (4, 1, 0),  # a short prefix needs position 0
    ],
)
def test_reusable_length_keeps_the_sliding_window(
    memory: RecordingMemory, num_shared: int, first_kept: int, expected: int
) -> None:
    kv = KVCacheManager(MAX_NUM_SEQS, NUM_PROMPT_SLOTS, memory, chunk_size=CHUNK, swa_window=WINDOW)
    assert kv.reusable_length(num_shared, 100, first_kept) == expected


def test_slot_that_dropped_the_window_is_not_reused(memory: RecordingMemory) -> None:
    """Sliding-window layers that lost the positions before the prefix: the prompt is computed from 0."""
    kv = KVCacheManager(MAX_NUM_SEQS, NUM_PROMPT_SLOTS, memory, chunk_size=CHUNK, swa_window=WINDOW)
    prompt = tokens(100, 40)
    a = make_request("a", prompt)
    start(kv, a)
    compute_prompt(a)
    free(kv, a)
    memory.take()
    memory.first_kept[P0] = 30  # llama.cpp kept only positions 30.. of the sliding-window layers
    b = make_request("b", prompt[:20] + tokens(900, 8))
    assert start(kv, b) == 0
    memory.first_kept[P0] = 13  # 20 attends back to 13: reusable
    c = make_request("c", prompt[:20] + tokens(700, 8))
    free(kv, b)
    memory.take()
    assert start(kv, c) == 20


def test_adoption_picks_the_idle_slot_with_the_longest_prefix(kv: KVCacheManager, memory: RecordingMemory) -> None:
    shared = tokens(100, 12)
    a = make_request("a", shared[:4] + tokens(500, 10))
    b = make_request("b", shared + tokens(600, 5))
    for r in (a, b):
        start(kv, r)
        compute_prompt(r)
    free(kv, a)
    free(kv, b)
    memory.take()
    c = make_request("c", shared + tokens(700, 5))
    assert start(kv, c) == 12
    assert c.slot_id == P1
    assert memory.take() == [("trim", P1, 12)]
    assert kv.num_cached_slots == 1  # a's entry in P0 is untouched


@pytest.mark.parametrize(
    ("cached_len", "new_prompt_len", "expected"),
    [
        (21, 21, 20),  # full match: len - 1 = 20 is a whole number of chunks
        (20, 20, 16),  # full match: len - 1 = 19, rounded down to whole chunks
        (20, 9, 8),  # the new prompt is a prefix of the cached one
        (20, 21, 20),  # the cached prompt is a prefix of the new one
    ],
)
def test_at_least_one_prompt_token_is_left_to_compute(
    kv: KVCacheManager, memory: RecordingMemory, cached_len: int, new_prompt_len: int, expected: int
) -> None:
    a = make_request("a", tokens(100, cached_len))
    start(kv, a)
    compute_prompt(a)
    free(kv, a)
    memory.take()
    b = make_request("b", tokens(100, new_prompt_len))
    assert start(kv, b) == expected
    assert b.slot_id == P0
    assert memory.take() == [("trim", P0, expected)]


def test_single_token_prompt_reuses_nothing(kv: KVCacheManager, memory: RecordingMemory) -> None:
    a = make_request("a", tokens(100, 20))
    start(kv, a)
    compute_prompt(a)
    free(kv, a)
    memory.take()
    b = make_request("b", [100])
    assert start(kv, b) == 0
    assert b.slot_id == P1  # an empty slot, not the (useless) cached one
    assert memory.take() == [("trim", P1, 0)]
    assert kv.num_adoptions == 0


def test_prefix_of_a_prefilling_request_is_copied_then_trimmed(kv: KVCacheManager, memory: RecordingMemory) -> None:
    prompt = tokens(100, 30)
    a = make_request("a", prompt)
    start(kv, a)
    a.num_computed_tokens = 16  # first chunk computed
    memory.take()
    b = make_request("b", prompt[:20] + tokens(900, 5))
    # 20 tokens are shared but only the 16 computed ones are in a's slot.
    assert start(kv, b) == 16
    assert b.slot_id == P1
    assert memory.take() == [("copy", P0, P1), ("trim", P1, 16)]
    assert (kv.num_copies, kv.num_adoptions) == (1, 0)
    assert a.slot_id == P0
    assert kv.num_prefilling == 2


@pytest.mark.parametrize(
    ("shared", "expected_reuse", "expected_ops"),
    [
        (CHUNK - 1, 0, [("trim", P1, 0)]),
        (CHUNK, CHUNK, [("copy", P0, P1), ("trim", P1, CHUNK)]),
        (2 * CHUNK - 1, CHUNK, [("copy", P0, P1), ("trim", P1, CHUNK)]),
        (23, 20, [("copy", P0, P1), ("trim", P1, 20)]),
    ],
)
def test_in_use_prefix_is_copied_only_in_whole_chunks(
    kv: KVCacheManager,
    memory: RecordingMemory,
    shared: int,
    expected_reuse: int,
    expected_ops: list[tuple[str, int, int]],
) -> None:
    prompt = tokens(100, 30)
    a = make_request("a", prompt)
    start(kv, a)
    a.num_computed_tokens = 24
    memory.take()
    b = make_request("b", prompt[:shared] + tokens(900, 5))
    assert start(kv, b) == expected_reuse
    assert b.slot_id == P1
    assert memory.take() == expected_ops


def test_decoded_tokens_are_not_reused_as_prompt_chunks(kv: KVCacheManager, memory: RecordingMemory) -> None:
    prompt = tokens(100, 20)  # computed as the chunks [0, 4) ... [16, 20)
    a = make_request("a", prompt)
    start(kv, a)
    to_decode(kv, a)
    decode_steps(a, 12)  # positions 20..31 computed by 12 single-token decode steps
    memory.take()
    # A follow-up turn sharing a's whole conversation. Computed from scratch it would
    # run [20, 24), [24, 28), [28, 32) as prompt chunks; only the 20 prompt tokens were
    # computed with that layout, so only they can be reused (from the idle entry in P0).
    b = make_request("b", a.token_ids[:32] + tokens(900, 4))
    assert start(kv, b) == 20
    assert b.slot_id == P0
    assert memory.take() == [("trim", P0, 20)]


def test_prefix_of_a_decoding_request_is_copied(kv: KVCacheManager, memory: RecordingMemory) -> None:
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    to_decode(kv, a)  # a decodes in slot 0; P0 keeps its prompt as a cache entry
    decode_steps(a, 3)
    b = make_request("b", prompt[:12] + tokens(800, 6))
    assert start(kv, b) == 12  # b adopts (and trims) a's cache entry
    assert b.slot_id == P0
    memory.take()
    # Now only a's decode slot holds a's whole prompt: it is copied whole, then trimmed.
    c = make_request("c", prompt + tokens(900, 4))
    assert start(kv, c) == 20
    assert c.slot_id == P1
    assert memory.take() == [("copy", 0, P1), ("trim", P1, 20)]
    assert (kv.num_copies, kv.num_adoptions, kv.num_evictions) == (2, 1, 0)
    assert a.slot_id == 0


@pytest.mark.parametrize(
    ("c_computed", "expected_ops"),
    [
        (20, [("trim", P1, 20)]),  # a tie: the idle entry is adopted, nothing copied
        (24, [("copy", P0, P2), ("trim", P2, 24)]),  # one more whole chunk in use: copied
    ],
)
def test_idle_entry_loses_only_to_a_longer_reusable_prefix(
    kv: KVCacheManager, memory: RecordingMemory, c_computed: int, expected_ops: list[tuple[str, int, int]]
) -> None:
    x = tokens(100, 30)
    c = make_request("c", x)
    start(kv, c)
    c.num_computed_tokens = 24  # c is prefilling in P0
    a = make_request("a", x[:20] + [901])
    assert start(kv, a) == 20  # copied from c's slot into P1
    compute_prompt(a)
    free(kv, a)  # P1 is now an idle entry sharing 20 tokens with x
    c.num_computed_tokens = c_computed
    memory.take()
    b = make_request("b", x[:28] + [903])
    assert start(kv, b) == expected_ops[-1][2]
    assert memory.take() == expected_ops


def test_copy_from_a_decoding_request_evicts_the_lru_entry(memory: RecordingMemory) -> None:
    kv = KVCacheManager(MAX_NUM_SEQS, 1, memory, chunk_size=CHUNK)
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    to_decode(kv, a)
    other = make_request("other", tokens(500, 10))
    start(kv, other)  # evicts a's cache entry in the only prompt slot
    to_decode(kv, other)
    assert memory.take() == [("trim", P0, 0), ("copy", P0, 0), ("trim", P0, 0), ("copy", P0, 1)]
    assert kv.num_evictions == 1
    c = make_request("c", prompt + tokens(900, 3))
    assert start(kv, c) == 20
    assert c.slot_id == P0
    assert memory.take() == [("copy", 0, P0), ("trim", P0, 20)]
    assert kv.num_evictions == 2


def test_no_prompt_slot_left_raises(kv: KVCacheManager, memory: RecordingMemory) -> None:
    for i in range(NUM_PROMPT_SLOTS):
        start(kv, make_request(f"r{i}", tokens(100 * (i + 1), 5)))
    assert not kv.can_start_prompt()
    memory.take()
    with pytest.raises(RuntimeError):
        kv.start_prompt(make_request("late", tokens(900, 5)))
    assert memory.ops == []


# start_decode ---------------------------------------------------------------------


def test_start_decode_copies_into_the_next_decode_slot(kv: KVCacheManager, memory: RecordingMemory) -> None:
    pa, pb = tokens(100, 20), tokens(200, 15)
    a, b = make_request("a", pa), make_request("b", pb)
    start(kv, a)
    start(kv, b)
    memory.take()

    to_decode(kv, b)
    assert memory.take() == [("copy", P1, 0)]
    assert b.slot_id == 0
    assert kv.decoding == [b]
    to_decode(kv, a)
    assert memory.take() == [("copy", P0, 1)]
    assert a.slot_id == 1
    assert kv.decoding == [b, a]
    assert kv.pad_slots() == list(range(2, 16))
    assert kv.num_prefilling == 0
    assert kv.num_cached_slots == 2
    assert kv.num_free_slots == 16 - 2 + 1

    # The prompt slot caches the prompt tokens only, not the sampled one.
    match = kv.longest_match(a.token_ids, include_in_use=False)
    assert match is not None
    assert (match.slot_id, match.num_tokens) == (P0, 20)
    assert match.idle is not None
    assert match.idle.cached_token_ids == pa


def test_idle_entry_is_preferred_to_a_decode_slot_holding_the_same_prefix(
    kv: KVCacheManager, memory: RecordingMemory
) -> None:
    prompt = tokens(100, 20)
    a = make_request("a", prompt)
    start(kv, a)
    to_decode(kv, a)
    memory.take()
    b = make_request("b", prompt + tokens(900, 3))
    assert start(kv, b) == 20
    assert b.slot_id == P0
    assert memory.take() == [("trim", P0, 20)]
    assert kv.num_adoptions == 1


def test_start_decode_beyond_max_num_seqs_raises(memory: RecordingMemory) -> None:
    kv = KVCacheManager(2, 3, memory, chunk_size=CHUNK)
    requests = [make_request(f"r{i}", tokens(100 * (i + 1), 5)) for i in range(3)]
    for r in requests[:2]:
        start(kv, r)
        to_decode(kv, r)
    kv.start_prompt(requests[2])  # bypasses the scheduler's cap on purpose
    compute_prompt(requests[2])
    memory.take()
    with pytest.raises(RuntimeError):
        kv.start_decode(requests[2])
    assert memory.ops == []
    assert len(kv.decoding) == 2


def test_start_decode_without_a_prompt_slot_raises(kv: KVCacheManager) -> None:
    with pytest.raises(RuntimeError):
        kv.start_decode(make_request("x", tokens(100, 5)))


# free -----------------------------------------------------------------------------


def test_freeing_decoding_requests_keeps_the_run_compact(memory: RecordingMemory) -> None:
    kv = KVCacheManager(MAX_NUM_SEQS, NUM_PROMPT_SLOTS, memory, chunk_size=CHUNK)
    a, b, c, d = (make_request(name, tokens(100 * (i + 1), 10)) for i, name in enumerate("abcd"))
    for r in (a, b, c, d):
        start(kv, r)
        to_decode(kv, r)
    assert kv.decoding == [a, b, c, d]
    assert [r.slot_id for r in (a, b, c, d)] == [0, 1, 2, 3]
    assert kv.num_evictions == 1  # d's prompt evicted a's cache entry (4 prompts, 3 slots)
    memory.take()

    # A hole in the middle is filled by the last decoding request.
    free(kv, b)
    assert memory.take() == [("copy", 3, 1), ("trim", 3, 0)]
    assert kv.decoding == [a, d, c]
    assert (b.slot_id, d.slot_id) == (None, 1)

    # The last one just goes.
    free(kv, c)
    assert memory.take() == [("trim", 2, 0)]
    assert kv.decoding == [a, d]

    free(kv, a)
    assert memory.take() == [("copy", 1, 0), ("trim", 1, 0)]
    assert kv.decoding == [d]
    assert d.slot_id == 0
    assert kv.pad_slots() == list(range(1, 16))

    free(kv, d)
    assert memory.take() == [("trim", 0, 0)]
    assert d.slot_id is None
    assert_all_free(kv)
    assert kv.num_cached_slots == 3
    assert kv.num_free_slots == 16


def test_freeing_a_request_without_a_slot_does_nothing(kv: KVCacheManager, memory: RecordingMemory) -> None:
    free(kv, make_request("waiting", tokens(100, 5)))
    assert memory.ops == []
    assert_all_free(kv)
    assert kv.num_free_slots == kv.num_total_slots


def test_freeing_a_stale_decode_slot_raises(kv: KVCacheManager, memory: RecordingMemory) -> None:
    a, b = make_request("a", tokens(100, 5)), make_request("b", tokens(200, 5))
    for r in (a, b):
        start(kv, r)
        to_decode(kv, r)
    memory.take()
    stale = make_request("stale", tokens(300, 5))
    stale.slot_id = 0
    with pytest.raises(RuntimeError):
        kv.free(stale)
    assert memory.ops == []
    assert kv.decoding == [a, b]


# LRU eviction ---------------------------------------------------------------------


def test_lru_eviction_order_of_cached_prompt_slots(kv: KVCacheManager, memory: RecordingMemory) -> None:
    a, b, c = (make_request(name, tokens(100 * (i + 1), 10)) for i, name in enumerate("abc"))
    for r in (a, b, c):
        start(kv, r)
        compute_prompt(r)
    # Released in the order b, c, a: least recently used first is P1, then P2, then P0.
    for r in (b, c, a):
        free(kv, r)
    assert kv.num_cached_slots == 3
    assert kv.num_free_prompt_slots == 0
    memory.take()

    expected_slots = [P1, P2, P0]
    for i, slot in enumerate(expected_slots):
        n = make_request(f"n{i}", tokens(5000 + 100 * i, 10))
        assert start(kv, n) == 0
        assert n.slot_id == slot
        assert memory.take() == [("trim", slot, 0)]
        assert kv.num_evictions == i + 1
    assert not kv.can_start_prompt()


def test_adoption_refreshes_lru(kv: KVCacheManager, memory: RecordingMemory) -> None:
    a, b, c = (make_request(name, tokens(100 * (i + 1), 10)) for i, name in enumerate("abc"))
    for r in (a, b, c):
        start(kv, r)
        compute_prompt(r)
    for r in (a, b, c):
        free(kv, r)
    # a's entry (P0, the LRU one) is adopted and released again, so b's (P1) is now the LRU one.
    x = make_request("x", tokens(100, 8) + tokens(900, 4))
    assert start(kv, x) == 8
    assert x.slot_id == P0
    compute_prompt(x)
    free(kv, x)
    memory.take()
    y = make_request("y", tokens(5000, 10))
    start(kv, y)
    assert y.slot_id == P1
    assert memory.take() == [("trim", P1, 0)]


# Invariants -----------------------------------------------------------------------


def test_check_invariants_detects_a_misplaced_decoding_request(kv: KVCacheManager) -> None:
    a, b = make_request("a", tokens(100, 5)), make_request("b", tokens(200, 5))
    for r in (a, b):
        start(kv, r)
        to_decode(kv, r)
    b.slot_id = 0
    with pytest.raises(AssertionError):
        kv.check_invariants()


def test_check_invariants_detects_a_prompt_slot_owner_pointing_elsewhere(kv: KVCacheManager) -> None:
    a = make_request("a", tokens(100, 5))
    start(kv, a)
    a.slot_id = P2
    with pytest.raises(AssertionError):
        kv.check_invariants()


def test_mixed_lifecycle_returns_every_slot(kv: KVCacheManager, memory: RecordingMemory) -> None:
    system = tokens(1000, 16)
    requests = [make_request(f"r{i}", system + tokens(2000 + 10 * i, 4)) for i in range(3)]
    r0, r1, r2 = requests
    assert start(kv, r0) == 0
    r0.num_computed_tokens = 16
    assert start(kv, r1) == 16  # copied from r0's prompt slot, in use
    to_decode(kv, r0)
    assert start(kv, r2) == 16  # r0's cache entry is idle now: adopted
    to_decode(kv, r1)
    to_decode(kv, r2)
    assert memory.take() == [
        ("trim", P0, 0),
        ("copy", P0, P1),
        ("trim", P1, 16),
        ("copy", P0, 0),
        ("trim", P0, 16),
        ("copy", P1, 1),
        ("copy", P0, 2),
    ]
    for r in (r1, r0, r2):
        free(kv, r)
    assert memory.take() == [("copy", 2, 1), ("trim", 2, 0), ("copy", 1, 0), ("trim", 1, 0), ("trim", 0, 0)]
    assert_all_free(kv)
    assert kv.num_cached_slots == 2


# Sessions ---------------------------------------------------------------------------
def _session_request(request_id: str, prompt: list[int], session_id: str) -> Request:
    request = make_request(request_id, prompt)
    request.session_id = session_id
    return request


def test_a_finished_decoding_request_keeps_its_whole_sequence_for_its_session(
    kv: KVCacheManager, memory: RecordingMemory
) -> None:
    a = _session_request("a", tokens(0, 8), "s")
    start(kv, a)
    to_decode(kv, a)
    decode_steps(a, 3)  # 8 prompt + 4 sampled tokens; the last one's KV is not computed yet
    memory.take()
    kv.free(a, keep_session=True)
    kv.check_invariants()
    # P0 still holds a's prompt as a prefix-cache entry: the session goes to the empty P1.
    assert memory.take() == [("copy", 0, P1), ("trim", 0, 0)]
    slot = kv.session_slot("s")
    assert slot is not None and slot.slot_id == P1
    assert slot.cached_token_ids == a.token_ids[:-1]
    assert kv.num_cached_slots == 2


def test_a_request_continuing_its_session_resumes_in_the_decode_run(
    kv: KVCacheManager, memory: RecordingMemory
) -> None:
    a = _session_request("a", tokens(0, 8), "s")
    start(kv, a)
    to_decode(kv, a)
    decode_steps(a, 3)
    kv.free(a, keep_session=True)
    memory.take()
    b = _session_request("b", list(a.token_ids), "s")
    assert kv.resume(b)
    kv.check_invariants()
    assert memory.take() == [("copy", P1, 0), ("trim", P1, 0)]
    assert b.slot_id == 0 and kv.decoding == [b]
    assert b.num_computed_tokens == b.num_cached_tokens == b.num_tokens - 1
    assert kv.session_slot("s") is None


def test_a_session_slot_is_never_a_prefix_match_and_a_stale_one_is_dropped(
    kv: KVCacheManager, memory: RecordingMemory
) -> None:
    a = _session_request("a", tokens(0, 8), "s")
    start(kv, a)
    compute_prompt(a)
    kv.free(a, keep_session=True)  # ended at its first token: the prompt slot becomes the session's
    kv.check_invariants()
    assert kv.session_slot("s") is not None
    assert kv.longest_match(tokens(0, 8)) is None
    diverged = _session_request("b", tokens(0, 7) + [5, 6], "s")
    memory.take()
    assert not kv.resume(diverged)
    assert memory.take() == [("trim", P0, 0)]
    assert kv.session_slot("s") is None
    assert_all_free(kv)
