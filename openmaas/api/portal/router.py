"""Routes of the portal dialect under /api/v1/ai; the framing is negotiated per request (shape.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from openmaas.api.deps import CompletionsServingDep
from openmaas.api.json_body import ThreadedJsonRoute
from openmaas.api.portal.protocol import PortalChatCompletionRequest
from openmaas.api.portal.shape import ENVELOPE_HEADER, VARY, chat_shape, envelope, wants_envelope

PREFIX = "/api/v1/ai"


router = APIRouter(prefix=PREFIX, tags=["portal"], route_class=ThreadedJsonRoute)


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: PortalChatCompletionRequest, request: Request, serving: CompletionsServingDep
) -> JSONResponse | StreamingResponse:
    is_envelope = wants_envelope(request.headers)
    answer = await serving.chat(body, request, chat_shape(is_envelope))
    _tag(answer, is_envelope)
    return answer


@router.get("/models", response_model=None)
async def list_models(request: Request, response: Response, serving: CompletionsServingDep) -> dict[str, Any]:
    models = serving.list_models()
    is_envelope = wants_envelope(request.headers)
    _tag(response, is_envelope)
    return envelope(models) if is_envelope else models


def _tag(response: Response, is_envelope: bool) -> None:
    """Says which framing the answer has, and that it depends on these request headers."""
    response.headers[ENVELOPE_HEADER] = "true" if is_envelope else "false"
    response.headers["Vary"] = VARY
