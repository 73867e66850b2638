"""Routes of the generate dialect; translation lives in serving.py."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ValidationError

from openmaas.api.generate.protocol import GenerateBatchRequest, GenerateRequest
from openmaas.api.generate.serving import GenerateServing
from openmaas.api.json_body import THREAD_PARSE_BYTES
from openmaas.errors import OpenmaasError

#: Every route of this dialect starts so (the error renderer is chosen by it).
PREFIX = "/api/generate"


def generate_error_body(exc: OpenmaasError) -> dict[str, Any]:
    """The dialect's error shape: FastAPI's {"detail": message}, with the stable code and the field."""
    return {"detail": exc.message, "code": exc.code, "param": exc.param}


def get_generate_serving(request: Request) -> GenerateServing:
    serving: GenerateServing = request.app.state.generate_serving
    return serving


GenerateServingDep = Annotated[GenerateServing, Depends(get_generate_serving)]

M = TypeVar("M", bound=BaseModel)


async def _json_body(request: Request, model: type[M]) -> M:
    """The body read as JSON whatever its Content-Type: the seed's own fetch() example sends
    JSON.stringify(...) without one, which browsers and Node label text/plain."""
    body = await request.body()
    try:
        if len(body) > THREAD_PARSE_BYTES:  # a long prompt: parsed off the event loop
            return await asyncio.to_thread(model.model_validate_json, body)
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def generate_body(request: Request) -> GenerateRequest:
    return await _json_body(request, GenerateRequest)


async def generate_batch_body(request: Request) -> GenerateBatchRequest:
    return await _json_body(request, GenerateBatchRequest)


def _json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI description of a body parsed by hand (its nested models written inline)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


router = APIRouter(prefix="/api", tags=["generate"])


@router.post("/generate", response_model=None, openapi_extra=_json_request_body(GenerateRequest))
async def generate(
    body: Annotated[GenerateRequest, Depends(generate_body)], request: Request, serving: GenerateServingDep
) -> PlainTextResponse | StreamingResponse:
    return await serving.generate(body, request)


@router.post("/generate-batch", response_model=None, openapi_extra=_json_request_body(GenerateBatchRequest))
async def generate_batch(
    body: Annotated[GenerateBatchRequest, Depends(generate_batch_body)], request: Request, serving: GenerateServingDep
) -> JSONResponse:
    return await serving.generate_batch(body, request)
