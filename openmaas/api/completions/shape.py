"""WireShape: how one dialect frames the OpenAI-shaped answers that serving.py builds."""

from __future__ import annotations

from typing import Any

from openmaas.api.errors import openai_error_body
from openmaas.api.sse import DONE, sse_data
from openmaas.errors import OpenmaasError


class WireShape:
    """OpenAI's own framing; a dialect that wraps or renames things subclasses it.

    ``serving.py`` builds vLLM-shaped payloads (OpenAI's fields plus
    ``stop_reason`` on each choice); a shape turns each into what its clients read.
    """

    #: The dialect's name in metrics and logs.
    name = "openai"
    #: Whether every streamed chunk carries the usage so far (else only the last, on request).
    usage_in_every_chunk = False
    #: How a chat completion's id starts (a hex uuid follows).
    chat_id_prefix = "chatcmpl-"

    def response(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The body of a non-streamed answer."""
        return payload

    def stream_event(self, payload: dict[str, Any]) -> str:
        """One streamed chunk, framed."""
        return sse_data(payload)

    def stream_error(self, exc: OpenmaasError) -> str:
        """An error inside a stream that has already started."""
        return sse_data(openai_error_body(exc))

    def stream_end(self) -> str | None:
        """What ends a stream, if anything."""
        return DONE
