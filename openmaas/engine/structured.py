"""Structured outputs: token masks that keep a request's output inside a JSON grammar.

``StructuredOutputs`` is built once per model from the model's llguidance
tokenizer (``LlamaCppRunner.llguidance_tokenizer()``). For each request with a
``StructuredSpec`` it hands out a ``GrammarConstraint``: a matcher that tracks
the output so far and, before every token, gives the set of tokens the grammar
allows next as a bitmask (one bit per vocabulary entry, packed in int32 words,
llguidance's layout). The sampler sets the logits of the other tokens to -inf,
the engine feeds the chosen token back with ``accept``, and ``is_finished``
says when the grammar is complete.

End of generation: the tokenizer is built with every end-of-generation token
of the model (EOS and end-of-turn) as llguidance's EOS tokens. So the mask
allows them exactly when the output so far is a complete instance, and once
nothing can follow (the closing ``}`` of an object) they are the only tokens
allowed and ``is_finished()`` is true.

``fill_masks`` fills the masks of a whole decode batch at once with
llguidance's parallel executor. It releases the GIL, so it can run in another
thread while ``llama_decode`` (which releases the GIL too) computes the step.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import llguidance
import llguidance.numpy as llg_numpy
import numpy as np

from openmaas.engine.sampling_params import StructuredSpec
from openmaas.errors import InvalidRequest

if TYPE_CHECKING:
    # Only the type stub declares it; the compiled module has no such name.
    from llguidance._lib import JsonCompileOptions

# Compiled grammars kept per StructuredOutputs: clients tend to send the same
# few schemas over and over, and a cached matcher is copied in microseconds
# where compiling takes about a millisecond (far more for large schemas).
DEFAULT_GRAMMAR_CACHE_SIZE = 64

# "Any JSON object" is the schema {"type": "object"} (llguidance's own advice).
_JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}

# llguidance reads its compile options from a top-level "x-guidance" key of
# the schema; a client's copy of that key is dropped, so only these apply.
# No free whitespace: with it, small models are known to emit newlines or
# spaces until max_tokens instead of closing the object, and the output is
# never valid. The fixed separators give json.dumps' layout, the form models
# have seen most. Not lenient: a keyword llguidance does not implement
# (uniqueItems, not, ...) is refused instead of silently ignored, since the
# output could then break the schema.
_JSON_OPTIONS: JsonCompileOptions = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": False,
}

_GUIDANCE_KEY = "x-guidance"

_NEG_INF = np.float32(-np.inf)


def mask_words(vocab_size: int) -> int:
    """int32 words in one token mask."""
    return (vocab_size + 31) // 32


def new_mask_buffer(num_rows: int, vocab_size: int) -> np.ndarray:
    """A (num_rows, mask_words) int32 buffer for fill_masks, every token allowed."""
    return llg_numpy.allocate_token_bitmask(num_rows, vocab_size)


def allowed_tokens(mask: np.ndarray, vocab_size: int) -> np.ndarray:
    """One mask row as a bool array over the vocabulary (True = allowed)."""
    # Token 32*w + b is bit b of word w; as bytes in little-endian order that
    # is plain little-endian bit order.
    as_bytes = np.ascontiguousarray(mask, dtype="<i4").view(np.uint8)
    return np.unpackbits(as_bytes, bitorder="little", count=vocab_size).view(np.bool_)


def mask_logits(row: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of one logits row with every token the mask forbids at -inf.

    A copy, because the row is usually a view of llama.cpp's logits buffer.
    About 0.2 ms for a 262k vocabulary.
    """
    if row.size > 32 * mask.size:
        raise ValueError(f"a mask of {mask.size} words cannot cover {row.size} logits")
    return np.where(allowed_tokens(mask, row.size), row, _NEG_INF)


class GrammarConstraint:
    """One request's position in its grammar.

    Not thread-safe: one thread at a time may use it (a mask may be filled in
    a helper thread, but never while another thread calls ``accept``).
    """

    __slots__ = ("_matcher", "vocab_size")

    def __init__(self, matcher: llguidance.LLMatcher, vocab_size: int) -> None:
        self._matcher = matcher
        self.vocab_size = vocab_size

    def fill_mask(self, out: np.ndarray | None = None) -> np.ndarray:
        """Writes the mask of the tokens allowed next into out (int32 words); returns it."""
        words = mask_words(self.vocab_size)
        if out is None:
            out = np.empty(words, dtype=np.int32)
        elif out.dtype != np.int32 or out.shape != (words,) or not out.flags["C_CONTIGUOUS"]:
            raise ValueError(f"a mask must be a contiguous int32 array of {words} words")
        # Releases the GIL while it computes.
        self._matcher.unsafe_compute_mask_ptr(out.ctypes.data, out.nbytes)
        return out

    def allowed_tokens(self) -> np.ndarray:
        """The tokens allowed next as a bool array over the vocabulary (for tests and tools)."""
        return allowed_tokens(self.fill_mask(), self.vocab_size)

    def accept(self, token_id: int) -> bool:
        """Advances past token_id; False if the grammar forbids it.

        A forbidden token (one the mask excluded) leaves the constraint in an
        error state for good: ``is_finished()`` turns true and ``error`` says
        why. An end-of-generation token is accepted when the output is complete.
        """
        if not 0 <= token_id < self.vocab_size:
            return False
        return bool(self._matcher.consume_token(token_id))

    def is_finished(self) -> bool:
        """True once nothing but end of generation may follow (or after an error)."""
        return bool(self._matcher.is_stopped())

    def is_accepting(self) -> bool:
        """True when the output so far is complete: stopping here is valid."""
        return bool(self._matcher.is_accepting())

    @property
    def error(self) -> str | None:
        """Why the constraint failed, or None."""
        if not self._matcher.is_error():
            return None
        return self._matcher.get_error() or "the grammar failed"


class StructuredOutputs:
    """Compiles StructuredSpecs into GrammarConstraints for one model's vocabulary.

    Safe to call from any thread: compiling releases the GIL and the grammar
    cache is guarded by a lock.
    """

    def __init__(self, tokenizer: llguidance.LLTokenizer, *, cache_size: int = DEFAULT_GRAMMAR_CACHE_SIZE) -> None:
        self._tokenizer = tokenizer
        self.vocab_size = int(tokenizer.vocab_size)
        self.eos_token_ids: frozenset[int] = frozenset(int(t) for t in tokenizer.eos_tokens)
        self._cache_size = cache_size
        # Key -> a matcher in its initial state, never advanced; requests get copies.
        self._cache: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._lock = threading.Lock()

    def constraint_for(self, spec: StructuredSpec) -> GrammarConstraint:
        """A fresh constraint for spec; InvalidRequest (naming spec.param) if it cannot be compiled."""
        if spec.kind == "lark" and spec.grammar is not None:
            return self._constraint("lark:" + spec.grammar, lambda: self._compile_lark(spec.grammar or "", spec.param))
        schema = _JSON_OBJECT_SCHEMA if spec.kind == "json_object" else spec.schema
        if not isinstance(schema, dict):
            raise InvalidRequest("json_schema needs a schema object", param=spec.param)
        if _GUIDANCE_KEY in schema:
            # It could turn on lenient mode or free whitespace and so void the guarantees.
            schema = {k: v for k, v in schema.items() if k != _GUIDANCE_KEY}
        try:
            # Not sort_keys: the order of "properties" is the order of the output.
            key = json.dumps(schema, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"the schema is not valid JSON: {exc}", param=spec.param) from exc
        json_schema = schema
        return self._constraint(key, lambda: self._compile(json_schema, spec.param))

    def _constraint(self, key: str, compile: Callable[[], llguidance.LLMatcher]) -> GrammarConstraint:
        with self._lock:
            template = self._cache.get(key)
            if template is not None:
                self._cache.move_to_end(key)
        if template is None:
            # Outside the lock: a large schema may take a while, and other
            # threads' requests need not wait for it.
            template = compile()
            with self._lock:
                self._cache[key] = template
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return GrammarConstraint(template.deep_copy(), self.vocab_size)

    def _compile(self, schema: dict[str, Any], param: str) -> llguidance.LLMatcher:
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=_JSON_OPTIONS)
        except ValueError as exc:
            raise InvalidRequest(f"invalid JSON schema: {exc}", param=param) from exc
        return self._matcher(grammar, "unsupported or invalid JSON schema", param)

    def _compile_lark(self, lark: str, param: str) -> llguidance.LLMatcher:
        try:
            grammar = llguidance.LLMatcher.grammar_from_lark(lark)
        except ValueError as exc:
            raise InvalidRequest(f"invalid grammar: {exc}", param=param) from exc
        return self._matcher(grammar, "unsupported or invalid grammar", param)

    def _matcher(self, grammar: str, failure: str, param: str) -> llguidance.LLMatcher:
        # log_level 0: llguidance would otherwise print warnings on stderr;
        # errors are read back below.
        matcher = llguidance.LLMatcher(self._tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequest(f"{failure}: {matcher.get_error()}", param=param)
        return matcher

    @property
    def num_cached_grammars(self) -> int:
        with self._lock:
            return len(self._cache)


_executor_lock = threading.Lock()
_executor: llguidance.LLExecutor | None = None


def _shared_executor() -> llguidance.LLExecutor:
    """The process-wide llguidance thread pool (one for every model, made on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = llguidance.LLExecutor()
        return _executor


def fill_masks(constraints: Sequence[GrammarConstraint | None], out: np.ndarray) -> np.ndarray:
    """Fills row i of out with the mask of constraints[i]; returns out[:len(constraints)].

    A None entry (an unconstrained request in the batch) gets an all-allowed
    row. Several constraints are computed in parallel on llguidance's thread
    pool; the call releases the GIL throughout, so it may run in a helper
    thread while the engine thread decodes, provided nobody calls ``accept``
    on these constraints meanwhile. out is a buffer from new_mask_buffer,
    reused across steps, with at least len(constraints) rows.
    """
    num_rows = len(constraints)
    if out.dtype != np.int32 or out.ndim != 2 or not out.flags["C_CONTIGUOUS"] or out.shape[0] < num_rows:
        raise ValueError(f"out must be a contiguous (>= {num_rows}, words) int32 array")
    pairs: list[tuple[llguidance.LLMatcher, int]] = []
    for index, constraint in enumerate(constraints):
        if constraint is None:
            out[index] = -1
            continue
        if mask_words(constraint.vocab_size) != out.shape[1]:
            raise ValueError("a constraint's vocabulary does not match the mask buffer")
        pairs.append((constraint._matcher, index))
    if len(pairs) == 1:
        # One matcher: computing it here skips the hand-off to the pool.
        matcher, index = pairs[0]
        row = out[index]
        matcher.unsafe_compute_mask_ptr(row.ctypes.data, row.nbytes)
    elif pairs:
        llg_numpy.fill_next_token_bitmask_par(_shared_executor(), pairs, out)
    return out[:num_rows]
