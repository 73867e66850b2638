"""How the portal dialect frames its answers, and which framing a request gets.

One URL, two framings:

- **The envelope**, the portal's own: a non-streamed answer is
  ``{"code": 200, "msg": "Operation successful", "data": <chat.completion>}``
  with exactly the portal's keys; a stream is ``event:messages`` /
  ``data:<chunk>`` events, each carrying the usage so far, and ends when the
  server closes it after the last chunk (no ``[DONE]``); errors are
  ``{"code": <status>, "msg": <message>, "data": null}``.
- **OpenAI's own shapes**, for OpenAI's SDKs, which cannot read the envelope
  (``choices`` would be missing) and, in older releases, turn a named SSE
  event into ``{"event", "data"}`` instead of a chunk.

``X-Openmaas-Envelope: true|false`` decides when a client sends it; otherwise
a request from an official OpenAI SDK (which sends ``X-Stainless-Lang``) gets
OpenAI's shapes and every other client the envelope.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers

from openmaas.api.completions.shape import WireShape
from openmaas.api.errors import ErrorRenderer, openai_error_body
from openmaas.errors import InvalidRequest, OpenmaasError

ENVELOPE_HEADER = "X-Openmaas-Envelope"
#: Sent by every SDK Stainless generates, OpenAI's Python and Node SDKs among them.
SDK_HEADER = "X-Stainless-Lang"
#: The request headers an answer's framing depends on.
VARY = f"{SDK_HEADER}, {ENVELOPE_HEADER}"
SUCCESS_MESSAGE = "Operation successful"
STREAM_EVENT_NAME = "messages"
CHAT_ID_PREFIX = "chat-"

_TRUE = "true"
_FALSE = "false"


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 200, "msg": SUCCESS_MESSAGE, "data": data}


def portal_error_body(exc: OpenmaasError) -> dict[str, Any]:
    """The envelope of a failure: the HTTP status again as ``code``, the message as ``msg``."""
    return {"code": exc.http_status, "msg": exc.message, "data": None}


def envelope_override(headers: Headers) -> bool | None:
    """The client's explicit choice, None without one; a value other than true/false is refused."""
    value = headers.get(ENVELOPE_HEADER)
    if value is None:
        return None
    normalized = value.strip().lower()
    if normalized not in (_TRUE, _FALSE):
        raise InvalidRequest(f"{ENVELOPE_HEADER} must be 'true' or 'false', got '{value}'")
    return normalized == _TRUE


def wants_envelope(headers: Headers) -> bool:
    """Whether a request gets the envelope (else OpenAI's shapes); an invalid override raises InvalidRequest."""
    override = envelope_override(headers)
    if override is not None:
        return override
    return SDK_HEADER not in headers


class PortalEnvelopeShape(WireShape):
    """The portal's own framing; payloads are cut down to exactly the portal's keys."""

    name = "portal"
    usage_in_every_chunk = True
    chat_id_prefix = CHAT_ID_PREFIX

    def response(self, payload: dict[str, Any]) -> dict[str, Any]:
        return envelope(
            {
                "id": payload["id"],
                "object": payload["object"],
                "created": payload["created"],
                "model": payload["model"],
                "choices": [_choice(choice) for choice in payload["choices"]],
                "usage": _usage(payload["usage"]),
                "prompt_logprobs": None,
            }
        )

    def stream_event(self, payload: dict[str, Any]) -> str:
        chunk = {key: payload[key] for key in ("id", "object", "created", "model", "choices")}
        if payload.get("usage") is not None:
            chunk["usage"] = _usage(payload["usage"])
        return messages_event(chunk)

    def stream_error(self, exc: OpenmaasError) -> str:
        return messages_event(portal_error_body(exc))

    def stream_end(self) -> str | None:
        # Clients read the end from the last choice's finish_reason and the closed connection.
        return None


class PortalOpenAIShape(WireShape):
    """OpenAI's framing (plain bodies, ``data:`` events, ``[DONE]``) under the portal's name and ids."""

    name = "portal"
    chat_id_prefix = CHAT_ID_PREFIX


ENVELOPE_SHAPE = PortalEnvelopeShape()
OPENAI_SHAPE = PortalOpenAIShape()


def chat_shape(is_envelope: bool) -> WireShape:
    return ENVELOPE_SHAPE if is_envelope else OPENAI_SHAPE


def choose_error_renderer(headers: Headers) -> ErrorRenderer:
    """The error shape wants_envelope() picks; an invalid override header gets the automatic choice."""
    try:
        envelope_wanted = wants_envelope(headers)
    except InvalidRequest:
        envelope_wanted = SDK_HEADER not in headers
    return portal_error_body if envelope_wanted else openai_error_body


def messages_event(payload: dict[str, Any]) -> str:
    """One SSE event as the portal frames it: no space after the colons."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event:{STREAM_EVENT_NAME}\ndata:{data}\n\n"


def _choice(choice: dict[str, Any]) -> dict[str, Any]:
    message = choice["message"]
    return {
        "index": choice["index"],
        "message": {
            "role": message["role"],
            "content": message["content"],
            "tool_calls": message.get("tool_calls", []),
        },
        "logprobs": choice["logprobs"],
        "finish_reason": choice["finish_reason"],
        "stop_reason": choice.get("stop_reason"),
    }


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "total_tokens": usage["total_tokens"],
        "completion_tokens": usage["completion_tokens"],
    }
