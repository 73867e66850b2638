"""Reading a GGUF file's string metadata, and the Hugging Face repository it names, without llama.cpp.

Only ``engine/runners/llama_cpp.py`` may import llama_cpp, and a model's names
are needed before any engine exists, so the header is parsed here (the GGUF
layout: magic, version, tensor count, key-value count, then typed key-value
pairs, little-endian).
"""

from __future__ import annotations

import logging
import mmap
import re
import struct
from pathlib import Path

logger = logging.getLogger(__name__)

_MAGIC = b"GGUF"
_STRING = 8
_ARRAY = 9
# Byte sizes of the fixed-size value types, by GGUF type id.
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

# "org/name" as Hugging Face spells repository ids.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REPO_URL = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([A-Za-z0-9][\w.-]*/[\w.-]+?)/?$")
# The keys that name the repository a GGUF was converted from, best first (llama.cpp's gguf-py names).
# general.base_model.* is not among them: a fine-tune is not its base model.
_SOURCE_KEYS = ("general.source.huggingface.repository", "general.source.repo_url", "general.source.url")


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands."""


class _Cursor:
    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise GGUFFormatError("truncated GGUF header")
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return int(value)

    def skip(self, size: int) -> None:
        if self.offset + size > len(self.data):
            raise GGUFFormatError("truncated GGUF header")
        self.offset += size

    def string(self) -> bytes:
        size = self.unpack("<Q")
        start = self.offset
        self.skip(size)
        return bytes(self.data[start : self.offset])

    def skip_value(self, value_type: int) -> None:
        if value_type == _STRING:
            self.skip(self.unpack("<Q"))
        elif value_type == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if item_type in _FIXED_SIZES:
                self.skip(count * _FIXED_SIZES[item_type])
            else:
                for _ in range(count):
                    self.skip_value(item_type)
        elif value_type in _FIXED_SIZES:
            self.skip(_FIXED_SIZES[value_type])
        else:
            raise GGUFFormatError(f"unknown GGUF value type {value_type}")


def read_string_metadata(path: Path, prefix: str = "general.") -> dict[str, str]:
    """The string-valued metadata of a GGUF file whose keys start with prefix."""
    return {key: value for key, value in read_metadata(path, prefix).items() if isinstance(value, str)}


# The integer value types (uint8 .. int64) by GGUF type id, as struct formats.
_INTEGER_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 10: "<Q", 11: "<q"}


def read_metadata(path: Path, prefix: str = "") -> dict[str, str | int]:
    """The string and integer metadata of a GGUF file whose keys start with prefix (arrays skipped)."""
    found: dict[str, str | int] = {}
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cursor = _Cursor(data)
        if bytes(data[:4]) != _MAGIC:
            raise GGUFFormatError(f"{path} is not a GGUF file")
        cursor.skip(4)
        version = cursor.unpack("<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"unsupported GGUF version {version}")
        cursor.unpack("<Q")  # tensor count
        num_kv = cursor.unpack("<Q")
        for _ in range(num_kv):
            key = cursor.string().decode("utf-8", errors="replace")
            value_type = cursor.unpack("<I")
            if value_type == _STRING and key.startswith(prefix):
                found[key] = cursor.string().decode("utf-8", errors="replace")
            elif value_type in _INTEGER_FORMATS and key.startswith(prefix):
                found[key] = cursor.unpack(_INTEGER_FORMATS[value_type])
            else:
                cursor.skip_value(value_type)
    return found


def huggingface_repo(metadata: dict[str, str]) -> str | None:
    """The Hugging Face repository id ("org/name") the metadata says the model was converted from."""
    for key in _SOURCE_KEYS:
        value = metadata.get(key, "").strip()
        if _REPO_ID.match(value):
            return value
        match = _REPO_URL.match(value)
        if match:
            return match.group(1)
    return None


def gguf_huggingface_repo(path: Path) -> str | None:
    """huggingface_repo of a GGUF file; None (logged) if its header cannot be read."""
    try:
        return huggingface_repo(read_string_metadata(path))
    except (OSError, ValueError) as exc:
        logger.warning("could not read the GGUF metadata of %s: %s", path, exc)
        return None
