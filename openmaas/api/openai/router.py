"""Routes of the OpenAI dialect; translation lives in api/completions/serving.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from openmaas.api.completions.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    TokenizeRequest,
)
from openmaas.api.deps import CompletionsServingDep, EmbeddingsServingDep
from openmaas.api.embeddings.protocol import EmbeddingRequest
from openmaas.api.json_body import ThreadedJsonRoute

router = APIRouter(prefix="/v1", tags=["openai"], route_class=ThreadedJsonRoute)
# vLLM serves these beside /v1; clients that count tokens call them there.
tokenizer_router = APIRouter(tags=["openai"], route_class=ThreadedJsonRoute)


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, serving: CompletionsServingDep
) -> JSONResponse | StreamingResponse:
    return await serving.chat(body, request)


@router.post("/completions", response_model=None)
async def create_completion(
    body: CompletionRequest, request: Request, serving: CompletionsServingDep
) -> JSONResponse | StreamingResponse:
    return await serving.completions(body, request)


@router.post("/embeddings")
async def create_embeddings(body: EmbeddingRequest, request: Request, serving: EmbeddingsServingDep) -> JSONResponse:
    return await serving.create(body, request)


@router.get("/models")
async def list_models(serving: CompletionsServingDep) -> dict[str, Any]:
    return serving.list_models()


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, serving: CompletionsServingDep) -> dict[str, Any]:
    return serving.get_model(model_id)


@tokenizer_router.post("/tokenize")
async def tokenize(body: TokenizeRequest, serving: CompletionsServingDep) -> dict[str, Any]:
    return await serving.tokenize(body)


@tokenizer_router.post("/detokenize")
async def detokenize(body: DetokenizeRequest, serving: CompletionsServingDep) -> dict[str, Any]:
    return await serving.detokenize(body)
