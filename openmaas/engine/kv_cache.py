"""Sequence slots in llama.cpp's KV memory, and the prefix cache they form.

llama.cpp runs with one KV stream per sequence id (``kv_unified=false``), so
a slot is a sequence id with ``max_model_len`` cells of its own. Two facts of
llama.cpp shape the layout:

* a ubatch only ever holds a run of *consecutive* sequence ids, so the
  sequences decoded together must sit in one contiguous run of slots, or one
  step turns into several graph computations;
* a sequence's logits are bit-identical at any load only in decode steps of
  a multiple of 16 rows (engine/padding.py), so a step may be padded with
  dummy sequences in the free slots right after the run.

Hence two regions. The **decode region** ``[0, padded_decode_rows(max_num_seqs))``
(``max_num_seqs`` rounded up to a multiple of 16) holds
decoding requests compacted at its front (a request that ends is replaced by
the last one, a whole-sequence copy). The **prompt region** after it holds a
slot per request being prefilled; once a prompt is computed, its KV is copied
into the decode region and the prompt slot keeps it as a prefix-cache entry.
A new prompt starts in the prompt slot that shares its longest prefix:

* an idle cached slot is adopted as it is (trimmed to the shared prefix, no copy);
* a slot in use (a prompt being prefilled, or a decoding sequence) is copied
  whole into a free prompt slot (llama.cpp copies only whole sequences across
  streams), then trimmed;

a prefix is reused in whole prompt chunks (``chunk_size``), so a prompt's
chunk layout, and so its KV to the last bit, never depends on the cache;
* otherwise the prompt gets an empty slot, or the least recently used cached one.

A request may also name a **session**: when it ends (stop or length), its
whole sequence (prompt and output, all but the last sampled token, whose KV
is not computed yet) is kept in an idle prompt slot under the session id,
and a later request of that session whose tokens extend it by exactly that
one token resumes there: its KV is copied into the decode region and it
decodes at once, computing no prompt token again. A session slot is never a
prefix-cache match (its output tokens were computed one by one, in batches
that depended on the load) and is evicted like any cached slot, least
recently used first.

The bookkeeping is pure: memory operations go through the ``KVMemory``
protocol, so it is tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from openmaas.engine.padding import padded_decode_rows
from openmaas.engine.request import Request


class KVMemory(Protocol):
    """The two KV operations the cache needs from a runner."""

    def copy_sequence(self, src_slot: int, dst_slot: int) -> None:
        """Makes dst hold exactly what src holds (a whole-sequence copy)."""

    def trim_sequence(self, slot: int, num_keep: int) -> None:
        """Drops every position at or after num_keep from slot."""

    def first_kept_position(self, slot: int) -> int:
        """The lowest position every layer of slot still holds (sliding-window layers drop older ones)."""


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """Number of leading tokens a and b share."""
    n = min(len(a), len(b))
    if n == 0 or a[0] != b[0]:
        return 0
    mismatch = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(mismatch[0]) if mismatch.size else n


@dataclass(slots=True, eq=False)
class PromptSlot:
    slot_id: int
    # Tokens whose KV an idle slot holds.
    cached_token_ids: list[int] = field(default_factory=list)
    owner: Request | None = None
    last_used: int = 0
    # Set when an idle slot holds a finished request's whole sequence for its session.
    session_id: str | None = None

    def held_token_ids(self) -> list[int]:
        if self.owner is not None:
            return self.owner.token_ids[: self.owner.num_computed_tokens]
        return self.cached_token_ids


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    slot_id: int
    num_tokens: int
    idle: PromptSlot | None  # the idle prompt slot that holds it, if it is one


class KVCacheManager:
    """Hands out decode and prompt slots; keeps the prefix cache in idle prompt slots."""

    def __init__(
        self,
        max_num_seqs: int,
        num_prompt_slots: int,
        memory: KVMemory,
        *,
        chunk_size: int = 64,
        swa_window: int | None = None,
    ) -> None:
        if num_prompt_slots < 1:
            raise ValueError("at least one prompt slot is needed")
        self.max_num_seqs = max_num_seqs
        # Every padded step fits: at most max_num_seqs real rows, padded to a multiple of 16.
        self.decode_region_size = padded_decode_rows(max_num_seqs)
        first = self.decode_region_size
        self._prompt_slots = [PromptSlot(slot_id=first + i) for i in range(num_prompt_slots)]
        # decoding[i] owns slot i: the decode region's front is always full.
        self.decoding: list[Request] = []
        self._memory = memory
        self.chunk_size = chunk_size
        # Window of sliding-window layers that keep only their window (llama.cpp's swa_full off), or None.
        self.swa_window = swa_window
        self._clock = 0
        self.num_copies = 0
        self.num_adoptions = 0
        self.num_evictions = 0
        self.num_resumes = 0

    @property
    def num_total_slots(self) -> int:
        return self.decode_region_size + len(self._prompt_slots)

    # Counts (prompt region) -----------------------------------------------------
    @property
    def num_prefilling(self) -> int:
        return sum(1 for s in self._prompt_slots if s.owner is not None and s.owner.params.num_beams == 1)

    @property
    def num_cached_slots(self) -> int:
        return sum(1 for s in self._prompt_slots if s.owner is None and s.cached_token_ids)

    @property
    def num_free_prompt_slots(self) -> int:
        return sum(1 for s in self._prompt_slots if s.owner is None and not s.cached_token_ids)

    @property
    def num_free_slots(self) -> int:
        """Slots holding nothing: the free decode slots (pads included) and the empty prompt slots."""
        return self.decode_region_size - len(self.decoding) + self.num_free_prompt_slots

    def can_start_prompt(self) -> bool:
        return any(s.owner is None for s in self._prompt_slots)

    def pad_slots(self) -> list[int]:
        """The free decode slots, right after the decoding run: where a step's dummy rows go."""
        return list(range(len(self.decoding), self.decode_region_size))

    # Matching -------------------------------------------------------------------
    def longest_match(self, prompt: list[int], *, include_in_use: bool = True) -> PrefixMatch | None:
        """The slot sharing the longest prefix with prompt, over idle, prefilling and decoding slots."""
        best: PrefixMatch | None = None
        candidates: list[tuple[int, list[int], PromptSlot | None]] = []
        for slot in self._prompt_slots:
            if slot.session_id is None and (slot.owner is None or include_in_use):
                candidates.append((slot.slot_id, slot.held_token_ids(), slot if slot.owner is None else None))
        if include_in_use:
            for request in self.decoding:
                # Only the prompt was computed in whole chunks; tokens decoded
                # one by one in load-dependent batches are never reused.
                if request.slot_id is not None:
                    candidates.append((request.slot_id, request.prompt_token_ids, None))
        for slot_id, held, idle in candidates:
            length = common_prefix_length(prompt, held) if held else 0
            better = best is None or length > best.num_tokens or (length == best.num_tokens and idle is not None)
            if length > 0 and better:
                best = PrefixMatch(slot_id, length, idle)
        return best

    # Lifecycle ------------------------------------------------------------------
    def reusable_length(self, num_shared: int, num_prompt_tokens: int, first_kept: int = 0) -> int:
        """How much of a shared prefix a prompt can take: whole chunks, and never its last token.

        first_kept is the lowest position the holding slot still has in every
        layer: the first token computed after the prefix, at position L,
        attends back to L - window + 1 in a sliding-window layer, so a prefix
        whose window was already dropped cannot be reused at all.
        """
        usable = min(num_shared, num_prompt_tokens - 1)
        usable -= usable % self.chunk_size
        if self.swa_window is not None and first_kept > max(0, usable - self.swa_window + 1):
            return 0
        return usable

    def _reusable(self, match: PrefixMatch | None, num_prompt_tokens: int) -> int:
        if match is None:
            return 0
        first_kept = self._memory.first_kept_position(match.slot_id) if self.swa_window is not None else 0
        return self.reusable_length(match.num_tokens, num_prompt_tokens, first_kept)

    def start_prompt(self, request: Request) -> int:
        """Gives request a prompt slot holding as much of its prompt as the cache has.

        Returns the number of prompt tokens already there: whole chunks only,
        and at least one prompt token is left to compute, since its logits
        start decoding.
        """
        prompt = request.token_ids[: request.num_prompt_tokens]
        idle = self.longest_match(prompt, include_in_use=False)
        best = self.longest_match(prompt)
        idle_len = self._reusable(idle, len(prompt))
        best_len = self._reusable(best, len(prompt))
        if idle is not None and idle.idle is not None and idle_len > 0 and idle_len >= best_len:
            slot, num_reused = idle.idle, idle_len
            self.num_adoptions += 1
        elif best is not None and best_len > 0:
            slot = self._take_victim()
            self._memory.copy_sequence(best.slot_id, slot.slot_id)
            num_reused = best_len
            self.num_copies += 1
        else:
            slot, num_reused = self._take_victim(), 0
        self._memory.trim_sequence(slot.slot_id, num_reused)
        slot.cached_token_ids = []
        slot.session_id = None
        slot.owner = request
        slot.last_used = self._tick()
        request.slot_id = slot.slot_id
        return num_reused

    def start_decode(self, request: Request) -> None:
        """Moves a fully prefilled request to the end of the decoding run.

        Its prompt slot keeps the prompt's KV as a prefix-cache entry.
        """
        prompt_slot = self._owned_prompt_slot(request)
        decode_slot = len(self.decoding)
        if decode_slot >= self.max_num_seqs:
            raise RuntimeError("decode region full (the scheduler admitted too many requests)")
        self._memory.copy_sequence(prompt_slot.slot_id, decode_slot)
        self.num_copies += 1
        prompt_slot.owner = None
        prompt_slot.cached_token_ids = request.token_ids[: request.num_computed_tokens]
        prompt_slot.last_used = self._tick()
        request.slot_id = decode_slot
        self.decoding.append(request)

    def free(self, request: Request, *, keep_session: bool = False) -> None:
        """Releases request's slot. A prompt slot keeps what was computed as a cache entry.

        With keep_session (the request ended normally and names a session),
        its computed tokens are kept as that session's slot instead.
        """
        if request.slot_id is None:
            return
        keep_session = keep_session and request.session_id is not None
        if keep_session:
            self.drop_session(request.session_id or "")
        if request.slot_id >= self.decode_region_size:
            slot = self._owned_prompt_slot(request)
            slot.owner = None
            slot.cached_token_ids = request.token_ids[: request.num_computed_tokens]
            slot.last_used = self._tick()
            if keep_session and slot.cached_token_ids:
                slot.session_id = request.session_id
            if not slot.cached_token_ids:
                self._memory.trim_sequence(slot.slot_id, 0)
        else:
            if keep_session:
                self._keep_session(request)
            index = request.slot_id
            if self.decoding[index] is not request:
                raise RuntimeError(f"decode slot {index} is not owned by request {request.request_id}")
            last = self.decoding.pop()
            if last is not request:
                # Keep the run contiguous: the last decoding sequence fills the hole.
                self._memory.copy_sequence(len(self.decoding), index)
                self.num_copies += 1
                last.slot_id = index
                self.decoding[index] = last
            self._memory.trim_sequence(len(self.decoding), 0)
        request.slot_id = None

    # Sessions ---------------------------------------------------------------------
    def _keep_session(self, request: Request) -> None:
        """Copies a finished decoding request's sequence into an idle prompt slot under its session."""
        if not any(s.owner is None for s in self._prompt_slots):
            return  # every prompt slot is prefilling: the session is simply not kept
        slot = self._take_victim()
        self._memory.copy_sequence(request.slot_id or 0, slot.slot_id)
        self.num_copies += 1
        slot.cached_token_ids = request.token_ids[: request.num_computed_tokens]
        slot.session_id = request.session_id
        slot.last_used = self._tick()

    def session_slot(self, session_id: str) -> PromptSlot | None:
        for slot in self._prompt_slots:
            if slot.session_id == session_id:
                return slot
        return None

    def drop_session(self, session_id: str) -> bool:
        """Frees the slot kept for session_id, if there is one."""
        slot = self.session_slot(session_id)
        if slot is None:
            return False
        self._memory.trim_sequence(slot.slot_id, 0)
        slot.cached_token_ids = []
        slot.session_id = None
        return True

    def resume(self, request: Request) -> bool:
        """Starts request straight in the decode run from its session's slot, if that slot holds
        every token of the request but the last; else drops a stale session slot and returns False."""
        if request.session_id is None:
            return False
        slot = self.session_slot(request.session_id)
        if slot is None:
            return False
        held = slot.cached_token_ids
        if len(held) != request.num_tokens - 1 or request.token_ids[: len(held)] != held:
            self.drop_session(request.session_id)
            return False
        decode_slot = len(self.decoding)
        if decode_slot >= self.max_num_seqs:
            raise RuntimeError("decode region full (the scheduler admitted too many requests)")
        self._memory.copy_sequence(slot.slot_id, decode_slot)
        self.num_copies += 1
        self.num_resumes += 1
        self.drop_session(request.session_id)
        request.slot_id = decode_slot
        request.num_computed_tokens = request.num_cached_tokens = len(held)
        self.decoding.append(request)
        return True

    def reset_prefix_cache(self) -> int:
        """Empties every idle cached prompt slot (sessions' slots included); returns how many."""
        emptied = 0
        for slot in self._prompt_slots:
            if slot.owner is None and slot.cached_token_ids:
                self._memory.trim_sequence(slot.slot_id, 0)
                slot.cached_token_ids = []
                slot.session_id = None
                emptied += 1
        return emptied

    def reserve_prompt_slots(self, request: Request, count: int) -> list[int] | None:
        """Gives a beam-search request count prompt slots (evicting cached ones), or None if too few are idle."""
        idle = [s for s in self._prompt_slots if s.owner is None]
        if len(idle) < count:
            return None
        # Empty slots first, then the least recently used cache entries.
        chosen = sorted(idle, key=lambda s: (bool(s.cached_token_ids), s.last_used))[:count]
        for slot in chosen:
            if slot.cached_token_ids:
                self.num_evictions += 1
            self._memory.trim_sequence(slot.slot_id, 0)
            slot.cached_token_ids = []
            slot.session_id = None
            slot.owner = request
            slot.last_used = self._tick()
        return sorted(s.slot_id for s in chosen)

    def release_prompt_slots(self, request: Request) -> None:
        """Frees every prompt slot a beam-search request holds (their KV is not kept)."""
        for slot in self._prompt_slots:
            if slot.owner is request:
                slot.owner = None
                self._memory.trim_sequence(slot.slot_id, 0)

    def check_invariants(self) -> None:
        """Raises if the slot bookkeeping is inconsistent."""
        for index, request in enumerate(self.decoding):
            if request.slot_id != index:
                raise AssertionError(
                    f"decoding request {request.request_id} at {index} thinks it is at {request.slot_id}"
                )
        owners = [s.owner for s in self._prompt_slots if s.owner is not None and s.owner.params.num_beams == 1]
        if len(owners) != len({id(o) for o in owners}):
            raise AssertionError("a request owns more than one prompt slot")
        for slot in self._prompt_slots:
            if slot.owner is not None and slot.owner.params.num_beams == 1 and slot.owner.slot_id != slot.slot_id:
                raise AssertionError(f"prompt slot {slot.slot_id} owner points at slot {slot.owner.slot_id}")
            if slot.owner is not None and slot.cached_token_ids:
                raise AssertionError(f"owned prompt slot {slot.slot_id} also holds cached tokens")
            if slot.session_id is not None and (slot.owner is not None or not slot.cached_token_ids):
                raise AssertionError(f"session slot {slot.slot_id} is owned or empty")
        sessions = [s.session_id for s in self._prompt_slots if s.session_id is not None]
        if len(sessions) != len(set(sessions)):
            raise AssertionError("a session holds more than one slot")
        if any(r in self.decoding for r in owners):
            raise AssertionError("a request holds a decode and a prompt slot")
        if len(self.decoding) + len(set(map(id, owners))) > self.max_num_seqs:
            raise AssertionError("more requests hold slots than max_num_seqs")

    def _owned_prompt_slot(self, request: Request) -> PromptSlot:
        for slot in self._prompt_slots:
            if slot.owner is request:
                return slot
        raise RuntimeError(f"request {request.request_id} owns no prompt slot")

    def _take_victim(self) -> PromptSlot:
        """An empty prompt slot if there is one, else the least recently used cached one."""
        idle = [s for s in self._prompt_slots if s.owner is None]
        if not idle:
            raise RuntimeError("no free prompt slot (the scheduler admitted too many requests)")
        empty = [s for s in idle if not s.cached_token_ids]
        if empty:
            return empty[0]
        victim = min(idle, key=lambda s: s.last_used)
        self.num_evictions += 1
        return victim

    def _tick(self) -> int:
        self._clock += 1
        return self._clock
