"""LlamaCppRunner: one model and one context in llama.cpp, through the low-level API.

The only module that imports ``llama_cpp``. Everything here is a thin, typed
wrapper over calls whose misuse aborts the interpreter, so the arguments are
checked before each call (sequence ids below ``n_seq_max``, whole-sequence
copies across KV streams).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from typing import Any

import llama_cpp as lc
import numpy as np

from openmaas.engine.config import EngineConfig
from openmaas.engine.padding import DECODE_ROW_MULTIPLE, padded_decode_rows
from openmaas.errors import InvalidRequest, ModelLoadFailed

logger = logging.getLogger(__name__)

# Prompt chunks are padded to a multiple of 4 rows: llama.cpp quantizes the
# activation rows of a repacked matmul in groups of 4 and the n mod 4 leftover
# rows one by one, which rounds differently. A chunk's layout is fixed by the
# prompt alone (engine/padding.py and docs/determinism.md say why decode steps
# need more).
ROW_MULTIPLE = 4
# The smallest padded decode step (engine/padding.py), also what the embeddings runner pads a small batch to.
MIN_PADDED_DECODE_ROWS = DECODE_ROW_MULTIPLE
PAD_TOKEN = 0
_GGML_TYPES = {"f16": lc.GGML_TYPE_F16, "q8_0": lc.GGML_TYPE_Q8_0}


_backend_lock = threading.Lock()
_backend_ready = False


def _route_llama_log(level: int, text: bytes | None, user_data: Any) -> None:
    # llama.cpp narrates every load at length; keep it at DEBUG.
    if text:
        logger.debug("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())


# Kept at module level: llama.cpp holds the pointer for the life of the process.
_LLAMA_LOG_CALLBACK: Any = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(_route_llama_log)


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            lc.llama_log_set(_LLAMA_LOG_CALLBACK, ctypes.c_void_p(0))
            lc.llama_backend_init()
            _backend_ready = True


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Facts about a loaded model that the layers above show or use."""

    architecture: str
    num_params: int
    size_bytes: int
    n_ctx_train: int
    n_vocab: int
    # Size of the model's hidden state: the length of its embeddings.
    n_embd: int
    chat_template: str | None
    bos_token: str
    eos_token: str


class LlamaBatchBuffer:
    """A llama_batch whose arrays are numpy buffers we own.

    Filling them through numpy slices instead of element by element through
    ctypes keeps batch building at a few microseconds per sequence.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.tokens = np.zeros(capacity, dtype=np.int32)
        self.positions = np.zeros(capacity, dtype=np.int32)
        self.num_seq_ids = np.ones(capacity, dtype=np.int32)
        self.seq_ids = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        # seq_id is llama_seq_id**: one pointer per token into our seq_ids array.
        base = self.seq_ids.ctypes.data
        self._seq_id_ptrs = (ctypes.POINTER(ctypes.c_int32) * capacity)(
            *[ctypes.cast(base + 4 * i, ctypes.POINTER(ctypes.c_int32)) for i in range(capacity)]
        )
        self.batch = lc.llama_batch()
        # The bindings type these fields as arrays; they are plain pointers in C.
        pointers: dict[str, Any] = {
            "token": self.tokens.ctypes.data_as(ctypes.POINTER(lc.llama_token)),
            "embd": ctypes.POINTER(ctypes.c_float)(),
            "pos": self.positions.ctypes.data_as(ctypes.POINTER(lc.llama_pos)),
            "n_seq_id": self.num_seq_ids.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            "seq_id": ctypes.cast(self._seq_id_ptrs, ctypes.POINTER(ctypes.POINTER(lc.llama_seq_id))),
            "logits": self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
        }
        for name, pointer in pointers.items():
            setattr(self.batch, name, pointer)
        self.num_tokens = 0

    def clear(self) -> None:
        self.num_tokens = 0

    def add(self, seq_id: int, tokens: list[int], start: int, wants_logits: bool) -> None:
        n = len(tokens)
        lo, hi = self.num_tokens, self.num_tokens + n
        if hi > self.capacity:
            raise RuntimeError(f"batch over capacity: {hi} > {self.capacity}")
        self.tokens[lo:hi] = tokens
        self.positions[lo:hi] = np.arange(start, start + n, dtype=np.int32)
        self.seq_ids[lo:hi] = seq_id
        self.logits[lo:hi] = 0
        self.logits[hi - 1] = 1 if wants_logits else 0
        self.num_tokens = hi


class LlamaCppRunner:
    """Owns a llama.cpp model and one context with a KV stream per sequence slot."""

    def __init__(self, config: EngineConfig, *, use_extra_bufts: bool = True) -> None:
        _init_backend()
        self.config = config
        mparams = lc.llama_model_default_params()
        # Repacked weight layouts: much faster at high batch (see ROW_MULTIPLE).
        mparams.use_extra_bufts = use_extra_bufts
        self._model = lc.llama_model_load_from_file(config.model_path.encode(), mparams)
        if not self._model:
            raise ModelLoadFailed(f"could not load model file {config.model_path}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self._vocab))
        n_ctx_train = int(lc.llama_model_n_ctx_train(self._model))
        if config.max_model_len > n_ctx_train:
            raise ModelLoadFailed(f"max_model_len {config.max_model_len} exceeds the model's context {n_ctx_train}")
        cparams = lc.llama_context_default_params()
        cparams.n_seq_max = config.num_seq_slots
        # Exactly the context: llama.cpp rounds a stream up to a multiple of 256 cells, so a few
        # cells for pad tokens past it would cost 256 per sequence (run_prompt_chunk does without).
        cells_per_seq = config.max_model_len
        cparams.n_ctx = config.num_seq_slots * cells_per_seq
        cparams.n_batch = config.max_num_batched_tokens + ROW_MULTIPLE
        # One llama_decode holds at most a padded decode step or one padded prompt chunk. n_ubatch sizes
        # the compute buffer (logits for every row of a ubatch) and the sliding-window cache (its window
        # plus a ubatch per sequence), so it is kept to what a call needs.
        # (A padded chunk is at most prefill_chunk_size tokens: that size is a multiple of ROW_MULTIPLE.)
        cparams.n_ubatch = max(config.num_decode_slots, config.prefill_chunk_size)
        cparams.n_threads = config.resolved_num_threads
        cparams.n_threads_batch = config.resolved_num_threads
        cparams.no_perf = True
        # One KV stream per sequence: attention looks only at its own cells, and
        # copying a prefix between sequences is a buffer copy.
        cparams.kv_unified = False
        # Sliding-window layers keep their window and a ubatch unless swa_full: a sequence can then be
        # trimmed back only as far as the window it still holds allows (first_kept_position).
        cparams.swa_full = config.swa_full
        cparams.type_k = cparams.type_v = _GGML_TYPES[config.kv_cache_type]
        self._ctx = lc.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            lc.llama_model_free(self._model)
            raise RuntimeError("llama.cpp could not create a context")
        self._memory = lc.llama_get_memory(self._ctx)
        self.n_seq_max = int(lc.llama_n_seq_max(self._ctx))
        self.n_ctx_seq = int(lc.llama_n_ctx_seq(self._ctx))
        if self.n_ctx_seq < cells_per_seq:
            raise RuntimeError(f"llama.cpp gave {self.n_ctx_seq} cells per sequence, wanted {cells_per_seq}")
        n_swa = int(lc.llama_model_n_swa(self._model))
        # Attention window of the sliding-window layers when they do not keep every position; else None.
        self.swa_window: int | None = n_swa if n_swa > 0 and not config.swa_full else None
        self._batch = LlamaBatchBuffer(config.max_num_batched_tokens + ROW_MULTIPLE)
        self._piece_cache: dict[int, bytes] = {}
        self.info = ModelInfo(
            architecture=self._meta("general.architecture") or "unknown",
            num_params=int(lc.llama_model_n_params(self._model)),
            size_bytes=int(lc.llama_model_size(self._model)),
            n_ctx_train=n_ctx_train,
            n_vocab=self.n_vocab,
            n_embd=int(lc.llama_model_n_embd(self._model)),
            chat_template=self._meta("tokenizer.chat_template"),
            bos_token=self.token_text(self.bos_token_id) if self.bos_token_id is not None else "",
            eos_token=self.token_text(self.eos_token_id) if self.eos_token_id is not None else "",
        )

    # Vocabulary ---------------------------------------------------------------
    @property
    def bos_token_id(self) -> int | None:
        token = int(lc.llama_vocab_bos(self._vocab))
        return token if token >= 0 else None

    @property
    def eos_token_id(self) -> int | None:
        token = int(lc.llama_vocab_eos(self._vocab))
        return token if token >= 0 else None

    @property
    def adds_bos(self) -> bool:
        return bool(lc.llama_vocab_get_add_bos(self._vocab))

    def end_of_generation_ids(self) -> frozenset[int]:
        """Every token llama.cpp marks as ending generation (EOS, end-of-turn, ...)."""
        ids = {t for t in (lc.llama_vocab_eos(self._vocab), lc.llama_vocab_eot(self._vocab)) if t >= 0}
        # Chat models often end a turn with a control token that is not the EOS.
        for text in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>"):
            found = self.tokenize(text, add_special=False, parse_special=True)
            if len(found) == 1 and lc.llama_vocab_is_eog(self._vocab, found[0]):
                ids.add(found[0])
        return frozenset(int(t) for t in ids)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (lc.llama_token * capacity)()
        n = lc.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, parse_special)
        if n < 0:
            capacity = -n
            buf = (lc.llama_token * capacity)()
            n = lc.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, parse_special)
        return list(buf[:n])

    def token_piece(self, token: int) -> bytes:
        """The bytes one token stands for in output text (control tokens render as nothing)."""
        piece = self._piece_cache.get(token)
        if piece is None:
            piece = self._piece(token, special=False)
            self._piece_cache[token] = piece
        return piece

    def token_bytes(self, token: int) -> bytes:
        """A token's raw bytes, control tokens included (for logprobs)."""
        return self._piece(token, special=True)

    def token_text(self, token: int) -> str:
        """A token's text including control tokens, for templates and displays."""
        return self._piece(token, special=True).decode("utf-8", errors="replace")

    def _piece(self, token: int, *, special: bool) -> bytes:
        if not 0 <= token < self.n_vocab:
            raise InvalidRequest(f"token id {token} is outside the vocabulary", param="prompt")
        buf = ctypes.create_string_buffer(64)
        n = lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def _meta(self, key: str) -> str | None:
        size = 1 << 16
        buf = ctypes.create_string_buffer(size)
        n = lc.llama_model_meta_val_str(self._model, key.encode(), buf, size)
        if n < 0:
            return None
        if n >= size:
            buf = ctypes.create_string_buffer(n + 1)
            lc.llama_model_meta_val_str(self._model, key.encode(), buf, n + 1)
        return buf.value.decode("utf-8", errors="replace")

    # KV memory (the kv_cache.KVMemory protocol) ---------------------------------
    def copy_sequence(self, src_slot: int, dst_slot: int) -> None:
        self._check_slot(src_slot)
        self._check_slot(dst_slot)
        if src_slot == dst_slot:
            return
        # Across KV streams only whole-sequence copies are allowed (a partial
        # range aborts the process); the copy lands in the next decode.
        lc.llama_memory_seq_cp(self._memory, src_slot, dst_slot, -1, -1)

    def trim_sequence(self, slot: int, num_keep: int) -> None:
        self._check_slot(slot)
        lc.llama_memory_seq_rm(self._memory, slot, num_keep, -1)

    def first_kept_position(self, slot: int) -> int:
        """The lowest position every layer of slot still holds (0 when empty or never pruned)."""
        self._check_slot(slot)
        return max(0, int(lc.llama_memory_seq_pos_min(self._memory, slot)))

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.n_seq_max:
            raise RuntimeError(f"sequence id {slot} outside [0, {self.n_seq_max})")

    # Compute --------------------------------------------------------------------
    def run_decode(self, rows: list[tuple[int, int, int]], pad_slots: list[int], *, pad: bool) -> np.ndarray:
        """Decodes one token for each (slot, token, position) row; returns their logits rows.

        Rows must be a run of consecutive slots (llama.cpp puts only
        consecutive sequence ids in one ubatch). With ``pad``, dummy rows in
        ``pad_slots`` bring them to a multiple of 16 (engine/padding.py), so
        every row takes the same kernels whatever the batch size. The result
        is a view into llama.cpp's buffer, valid until the next decode.
        """
        num_pad = padded_decode_rows(len(rows)) - len(rows) if pad else 0
        if num_pad > len(pad_slots):
            raise RuntimeError(f"{num_pad} pad slots needed, {len(pad_slots)} given")
        batch = self._batch
        batch.clear()
        for slot, token, position in rows:
            self._check_position(slot, position)
            batch.add(slot, [token], position, True)
        for slot in pad_slots[:num_pad]:
            self._check_slot(slot)
            # No logits for dummies: the output projection (Q8_0, not repacked) gives a row the same
            # result at any row count, and skipping it halves the cost of padding (docs/determinism.md).
            batch.add(slot, [PAD_TOKEN], 0, False)
        try:
            logits = self._decode(batch, len(rows))
        finally:
            for slot in pad_slots[:num_pad]:
                self.trim_sequence(slot, 0)
        return logits[: len(rows)]

    def run_prompt_chunk(self, slot: int, tokens: list[int], start: int, wants_logits: bool) -> np.ndarray | None:
        """Computes prompt tokens at positions start.. of slot; the last one's logits if asked.

        The chunk is padded to a multiple of ROW_MULTIPLE with dummy tokens
        after it, which are dropped again right after: every row then takes
        the same kernels however the prompt was chunked.
        """
        end = start + len(tokens)
        # No room for pads at the very end of the context: that last chunk runs unpadded, which
        # depends on the prompt's length alone, so its KV is still the same at any load.
        num_pad = -len(tokens) % ROW_MULTIPLE
        if end + num_pad > self.n_ctx_seq:
            num_pad = 0
        self._check_position(slot, end + num_pad - 1)
        batch = self._batch
        batch.clear()
        batch.add(slot, tokens + [PAD_TOKEN] * num_pad, start, False)
        batch.logits[len(tokens) - 1] = 1 if wants_logits else 0
        try:
            logits = self._decode(batch, 1 if wants_logits else 0)
        finally:
            if num_pad:
                self.trim_sequence(slot, end)
        return logits[0] if wants_logits else None

    def _decode(self, batch: LlamaBatchBuffer, num_rows: int) -> np.ndarray:
        batch.batch.n_tokens = batch.num_tokens
        status = lc.llama_decode(self._ctx, batch.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")
        if num_rows == 0:
            return np.empty((0, self.n_vocab), dtype=np.float32)
        pointer = lc.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(pointer, shape=(num_rows, self.n_vocab))

    def _check_position(self, slot: int, position: int) -> None:
        self._check_slot(slot)
        if not 0 <= position < self.n_ctx_seq:
            raise RuntimeError(f"position {position} outside sequence {slot}'s {self.n_ctx_seq} cells")

    @property
    def model(self) -> Any:
        """The llama_model, for a second context on the same weights (runners/llama_cpp_embeddings.py)."""
        return self._model

    def close(self) -> None:
        if self._ctx:
            lc.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            lc.llama_model_free(self._model)
            self._model = None

    def llguidance_tokenizer(self) -> Any:
        """This vocabulary as an ``llguidance.LLTokenizer``, for structured outputs.

        Every end-of-generation token (EOS, end-of-turn) is given to llguidance
        as an EOS token, so a grammar allows them exactly when the output is
        complete. Slow (about 2 s for a 262k vocabulary, one llama.cpp call per
        token): build it once per model.
        """
        # Imported here: the llama.cpp helpers of llguidance are only needed to build this tokenizer.
        import warnings

        from llguidance.llamacpp import lltokenizer_from_vocab

        with warnings.catch_warnings():
            # The helper calls llama_token_get_attr, which these bindings mark
            # deprecated (warning once per token); the call itself still works.
            warnings.simplefilter("ignore", DeprecationWarning)
            return lltokenizer_from_vocab(
                self._vocab, n_vocab=self.n_vocab, eos_token=sorted(self.end_of_generation_ids())
            )
