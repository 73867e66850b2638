"""What a GGUF file says about its model (name, size, context, quantization, license, uses), for the catalog.

The catalog's own fields win; these fill the gaps, so a model added with only a
path (or the bundled one, which has no catalog row) still shows its facts.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from openmaas.fleet.gguf_metadata import read_metadata

logger = logging.getLogger(__name__)

# llama.cpp's llama_ftype values (general.file_type) by name, as its quantize tool spells them.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

# Encoder architectures llama.cpp runs only for embeddings.
EMBEDDING_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "t5encoder"}
)


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """A GGUF file's self-description; None where the header does not say."""

    name: str | None = None
    architecture: str | None = None
    # "270M", "8B": the size label the converter wrote.
    size_label: str | None = None
    trained_context_length: int | None = None
    quantization: str | None = None
    license: str | None = None
    file_bytes: int | None = None
    # "chat" (the file carries a chat template), "embeddings" (an encoder, or a pooling type) or "base".
    kind: str = "base"

    @property
    def capabilities(self) -> tuple[str, ...]:
        return capabilities(self.kind)


def capabilities(kind: str) -> tuple[str, ...]:
    """The endpoints a model of this kind is for: an embedding model only embeds; any other model
    chats (a base model through a plain template), completes and embeds (mean-pooled, as llama.cpp's
    server does for a model whose GGUF names no pooling)."""
    if kind == "embeddings":
        return ("embeddings",)
    return ("chat", "completions", "embeddings")


def model_facts(path: Path) -> ModelFacts:
    """The facts of the GGUF file at path (read once per file version); empty facts if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return ModelFacts()
    return _read_facts(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_facts(path: Path, mtime_ns: int, size: int) -> ModelFacts:
    try:
        metadata = read_metadata(path, "")
    except (OSError, ValueError) as exc:
        logger.warning("could not read the GGUF metadata of %s: %s", path, exc)
        return ModelFacts(file_bytes=size)

    def text(key: str) -> str | None:
        value = metadata.get(key)
        return value if isinstance(value, str) and value.strip() else None

    def number(key: str) -> int | None:
        value = metadata.get(key)
        return value if isinstance(value, int) else None

    architecture = text("general.architecture")
    file_type = number("general.file_type")
    if architecture in EMBEDDING_ARCHITECTURES or (architecture and number(f"{architecture}.pooling_type")):
        kind = "embeddings"
    else:
        kind = "chat" if text("tokenizer.chat_template") else "base"
    return ModelFacts(
        name=text("general.name"),
        architecture=architecture,
        size_label=text("general.size_label"),
        trained_context_length=number(f"{architecture}.context_length") if architecture else None,
        quantization=FILE_TYPES.get(file_type) if file_type is not None else None,
        license=text("general.license"),
        file_bytes=size,
        kind=kind,
    )
