"""LlamaCppEmbedder: a second llama.cpp context on a loaded model, for pooled embeddings.

It shares the generation runner's weights (no second copy of the model) and
has its own small KV memory, cleared after every batch: an embedding is one
forward pass over the input, nothing is kept. Pooling follows the GGUF's
``<arch>.pooling_type``; a model that names none (a chat model, such as the
bundled Gemma) is pooled by the mean of its token states, as llama.cpp's
server does for such models. Vectors are L2-normalised, as OpenAI's are.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

import llama_cpp as lc
import numpy as np

from openmaas.engine.runners.llama_cpp import MIN_PADDED_DECODE_ROWS, PAD_TOKEN, LlamaBatchBuffer

logger = logging.getLogger(__name__)

# Each input takes a multiple of this many rows of a batch (dummy rows after it), so it starts at a
# multiple of it. llama.cpp's CPU kernels group rows (docs/determinism.md); measured on the bundled
# model: inputs padded to 4 rows changed by up to 3e-3 when one started at a row = 4 (mod 8), and
# padded to 8 they equal their solo vectors within 6e-8 in any batch.
ROW_MULTIPLE = 8

# llama.cpp's llama_pooling_type values, as GGUF metadata spells them.
POOLING_NAMES = {
    lc.LLAMA_POOLING_TYPE_NONE: "none",
    lc.LLAMA_POOLING_TYPE_MEAN: "mean",
    lc.LLAMA_POOLING_TYPE_CLS: "cls",
    lc.LLAMA_POOLING_TYPE_LAST: "last",
    lc.LLAMA_POOLING_TYPE_RANK: "rank",
}


def model_pooling_type(model: Any) -> int | None:
    """The pooling the GGUF's metadata names (``<arch>.pooling_type``), or None."""
    architecture = _meta(model, "general.architecture")
    value = _meta(model, f"{architecture}.pooling_type") if architecture else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def embedding_pooling_type(model: Any) -> int:
    """The pooling embeddings use: the model's own, else the mean (a model without pooling gives one
    state per token, and the mean of them is what llama.cpp's server returns for such a model)."""
    pooling = model_pooling_type(model)
    if pooling is None or pooling == lc.LLAMA_POOLING_TYPE_NONE:
        return int(lc.LLAMA_POOLING_TYPE_MEAN)
    return pooling


def _meta(model: Any, key: str) -> str | None:
    size = 256
    buf = ctypes.create_string_buffer(size)
    n = lc.llama_model_meta_val_str(model, key.encode(), buf, size)
    if n < 0 or n >= size:
        return None
    return buf.value.decode("utf-8", errors="replace")


class LlamaCppEmbedder:
    """Runs batches of whole inputs, one sequence each, through an embeddings context.

    ``max_batch_tokens`` caps the rows of one ``llama_decode`` (each input padded to a
    multiple of ROW_MULTIPLE; see ``num_rows``), and so the longest input;
    ``max_batch_inputs`` the sequences in it. A batch is never split into ubatches
    (n_ubatch = n_batch), since a pooled sequence must be computed whole.
    """

    def __init__(self, model: Any, *, max_batch_tokens: int, max_batch_inputs: int, num_threads: int) -> None:
        self.pooling_type = embedding_pooling_type(model)
        if self.pooling_type == lc.LLAMA_POOLING_TYPE_RANK:
            raise ValueError("this model is a reranker (pooling 'rank'): it scores pairs and has no embeddings")
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_inputs = max_batch_inputs
        cparams = lc.llama_context_default_params()
        cparams.embeddings = True
        cparams.pooling_type = self.pooling_type
        # One cell pool shared by the batch's sequences, emptied after every batch: the memory
        # is the size of one batch, not of max_batch_inputs full contexts.
        cparams.kv_unified = True
        num_seqs = max_batch_inputs + 1
        # Room for the inputs' rows and the padding that brings a small batch to MIN_PADDED_DECODE_ROWS,
        # rounded up to a multiple of the sequences: llama.cpp aborts the process when it sizes the
        # pooling graph of a ubatch that does not split evenly between them.
        capacity = -(-(max_batch_tokens + MIN_PADDED_DECODE_ROWS) // num_seqs) * num_seqs
        cparams.n_ctx = capacity
        cparams.n_batch = capacity
        cparams.n_ubatch = capacity
        # The last sequence id holds the padding rows.
        cparams.n_seq_max = num_seqs
        self._pad_seq_id = max_batch_inputs
        # As llama-cpp-python's Llama(embedding=True) has it; flash attention on the CPU moves vectors by ~1e-2.
        cparams.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.n_threads = num_threads
        cparams.n_threads_batch = num_threads
        cparams.no_perf = True
        self._ctx = lc.llama_init_from_model(model, cparams)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create an embeddings context")
        self._memory = lc.llama_get_memory(self._ctx)
        self.n_embd = int(lc.llama_model_n_embd(model))
        self._batch = LlamaBatchBuffer(capacity)
        logger.info(
            "embeddings context: pooling %s, %d tokens and %d inputs per batch",
            POOLING_NAMES.get(self.pooling_type, str(self.pooling_type)),
            self.max_batch_tokens,
            self.max_batch_inputs,
        )

    @staticmethod
    def num_rows(num_tokens: int) -> int:
        """Rows an input of num_tokens takes in a batch, padding included."""
        return num_tokens + (-num_tokens % ROW_MULTIPLE)

    def embed_batch(self, inputs: list[list[int]]) -> list[np.ndarray]:
        """The L2-normalised embedding (float32) of each input, computed in one llama_decode."""
        if not inputs or len(inputs) > self.max_batch_inputs:
            raise RuntimeError(f"an embeddings batch holds 1 to {self.max_batch_inputs} inputs, not {len(inputs)}")
        num_rows = sum(self.num_rows(len(tokens)) for tokens in inputs)
        if num_rows > self.max_batch_tokens or any(not tokens for tokens in inputs):
            raise RuntimeError(f"an embeddings batch holds 1 to {self.max_batch_tokens} rows, not {num_rows}")
        batch = self._batch
        batch.clear()
        pad_position = 0
        for seq_id, tokens in enumerate(inputs):
            batch.add(seq_id, tokens, 0, True)
            # Dummy rows (a sequence of their own) bring each input to a multiple of ROW_MULTIPLE rows,
            # so its rows take the same kernels wherever it sits in the batch (docs/determinism.md).
            num_pad = -len(tokens) % ROW_MULTIPLE
            if batch.num_tokens + num_pad < MIN_PADDED_DECODE_ROWS and seq_id == len(inputs) - 1:
                num_pad = MIN_PADDED_DECODE_ROWS - batch.num_tokens
            if num_pad:
                batch.add(self._pad_seq_id, [PAD_TOKEN] * num_pad, pad_position, True)
                pad_position += num_pad
        # Every row is an output: pooling reads all of them.
        batch.logits[: batch.num_tokens] = 1
        batch.batch.n_tokens = batch.num_tokens
        try:
            status = lc.llama_decode(self._ctx, batch.batch)
            if status != 0:
                raise RuntimeError(f"llama_decode failed with status {status}")
            vectors = []
            for seq_id in range(len(inputs)):
                pointer = lc.llama_get_embeddings_seq(self._ctx, seq_id)
                if not pointer:
                    raise RuntimeError(f"llama.cpp gave no embedding for sequence {seq_id}")
                vectors.append(_normalized(np.ctypeslib.as_array(pointer, shape=(self.n_embd,))))
            return vectors
        finally:
            # Nothing is kept between batches.
            lc.llama_memory_clear(self._memory, True)

    def close(self) -> None:
        if self._ctx:
            lc.llama_free(self._ctx)
            self._ctx = None


def _normalized(vector: np.ndarray) -> np.ndarray:
    """vector / its L2 norm, computed in float64 and returned as a new float32 array."""
    values = vector.astype(np.float64)
    norm = float(np.linalg.norm(values))
    if norm > 0.0:
        values /= norm
    result = values.astype(np.float32)
    result.flags.writeable = False
    return result
