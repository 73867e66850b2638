"""Wire models of OpenAI's embeddings endpoint (POST /v1/embeddings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openmaas.api.completions.protocol import OpenAIBaseModel
from openmaas.errors import InvalidRequest

# OpenAI's limit on the inputs of one call.
MAX_INPUTS = 2048

EmbeddingInput = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(OpenAIBaseModel):
    """``input``: one text, a list of texts, one token array or a list of token arrays."""

    model: str
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    # Accepted (OpenAI's abuse-monitoring id), not used.
    user: str | None = None

    def texts_or_tokens(self) -> list[str | list[int]]:
        """The inputs, one item each: a text to tokenize, or token ids used as they are."""
        value = self.input
        if isinstance(value, str):
            items: list[str | list[int]] = [value]
        elif value and all(isinstance(item, int) for item in value):
            items = [[int(item) for item in value if isinstance(item, int)]]
        else:
            items = [item if isinstance(item, str) else list(item) for item in value if not isinstance(item, int)]
        if not items:
            raise InvalidRequest("input must not be empty", param="input")
        for index, item in enumerate(items):
            # A BOS token alone would embed: refused as OpenAI refuses it, since it is surely a mistake.
            if not item:
                raise InvalidRequest(f"input[{index}] is empty: there is nothing to embed", param="input")
        if len(items) > MAX_INPUTS:
            raise InvalidRequest(f"input holds {len(items)} items; at most {MAX_INPUTS} per call", param="input")
        return items
