"""create_app(settings): composes the fleet, the dialects and the error handlers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from openmaas import __version__
from openmaas.api import health, status
from openmaas.api import metrics_route as metrics_router
from openmaas.api.completions.serving import CompletionsServing
from openmaas.api.errors import ErrorRenderers, error_response, install_error_handlers
from openmaas.api.limits import BodySizeLimit
from openmaas.api.metering import Metrics
from openmaas.api.openai import router as openai_router
from openmaas.engine import EngineConfig
from openmaas.fleet.fleet import ModelFleet
from openmaas.fleet.sources import ModelSource, bundled_model, local_model
from openmaas.settings import Settings


def resolve_model_source(settings: Settings) -> ModelSource:
    if settings.model:
        return local_model(settings.model, settings.model_id)
    source = bundled_model(settings.home)
    return ModelSource(settings.model_id or source.model_id, source.path)


def engine_config(settings: Settings, source: ModelSource) -> EngineConfig:
    return EngineConfig(
        model_path=str(source.path),
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        max_model_len=settings.max_model_len,
        num_cache_slots=settings.num_cache_slots,
        prefill_chunk_size=settings.prefill_chunk_size,
        num_threads=settings.num_threads,
    )


def create_app(settings: Settings) -> FastAPI:
    fleet = ModelFleet()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        source = resolve_model_source(settings)
        fleet.load(
            source,
            engine_config(settings, source),
            created=int(time.time()),
            debug_checks=settings.engine_debug_checks,
        )
        try:
            yield
        finally:
            fleet.close()

    app = FastAPI(title="openmaas", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.fleet = fleet
    metrics = Metrics(lambda: {served.source.model_id: served.engine.stats() for served in fleet.list()})
    app.state.metrics = metrics
    app.state.completions_serving = CompletionsServing(fleet, metrics)
    renderers = ErrorRenderers()
    install_error_handlers(app, renderers)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, render=partial(error_response, renderers))
    app.include_router(health.router)
    app.include_router(openai_router.router)
    app.include_router(openai_router.tokenizer_router)
    app.include_router(status.router)
    app.include_router(metrics_router.router)
    return app
