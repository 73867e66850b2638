"""Estimating the memory a loaded model takes: its weights (the GGUF file, memory-mapped) plus its KV cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from openmaas.engine import EngineConfig
from openmaas.fleet.gguf_metadata import read_metadata

logger = logging.getLogger(__name__)

# Bytes per stored K or V value, by KV cache type: f16, and q8_0's blocks of 32 values in 34 bytes.
KV_BYTES_PER_VALUE = 2
_KV_TYPE_SCALE = {"f16": (1, 1), "q8_0": (17, 32)}  # relative to f16


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Bytes a model needs once loaded, by part."""

    weights_bytes: int
    kv_cache_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes


def kv_bytes_per_cell(path: Path) -> int | None:
    """K and V bytes of one KV cell across every layer, from the GGUF header; None if it does not say."""
    try:
        metadata = read_metadata(path)
    except (OSError, ValueError) as exc:
        logger.warning("could not read the GGUF metadata of %s: %s", path, exc)
        return None
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return None

    def number(key: str) -> int | None:
        value = metadata.get(f"{arch}.{key}")
        return value if isinstance(value, int) else None

    num_layers = number("block_count")
    num_heads = number("attention.head_count")
    num_kv_heads = number("attention.head_count_kv") or num_heads
    embedding = number("embedding_length")
    head_dim = embedding // num_heads if embedding and num_heads else None
    key_length = number("attention.key_length") or head_dim
    value_length = number("attention.value_length") or head_dim
    if not (num_layers and num_kv_heads and key_length and value_length):
        return None
    return num_layers * num_kv_heads * (key_length + value_length) * KV_BYTES_PER_VALUE


def estimate_memory(config: EngineConfig) -> MemoryEstimate:
    """The weights (file size) and the KV cache the engine config asks llama.cpp for.

    Every sequence slot is counted with ``max_model_len`` cells of every layer:
    exact with ``swa_full``, an upper bound otherwise for models with
    sliding-window layers (they keep their window and a ubatch; the GGUF
    header does not say which layers those are).
    """
    path = Path(config.model_path)
    weights = path.stat().st_size
    per_cell = kv_bytes_per_cell(path)
    if per_cell is None:
        return MemoryEstimate(weights, 0)
    numerator, denominator = _KV_TYPE_SCALE[config.kv_cache_type]
    kv_bytes = per_cell * config.num_seq_slots * config.max_model_len * numerator // denominator
    return MemoryEstimate(weights, kv_bytes)
