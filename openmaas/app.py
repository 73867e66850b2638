"""create_app(settings): composes the fleet, the dialects and the error handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from openmaas import __version__
from openmaas.api import health, status
from openmaas.api import metrics_route as metrics_router
from openmaas.api.auth import ApiKeyVerifier, RequireApiKey
from openmaas.api.completions.serving import CompletionsServing
from openmaas.api.context import RequestContextMiddleware
from openmaas.api.drain import Drain
from openmaas.api.errors import ErrorRenderers, error_response, install_error_handlers
from openmaas.api.generate import router as generate_router
from openmaas.api.generate.protocol import GenerationDefaults
from openmaas.api.generate.serving import GenerateServing
from openmaas.api.generate.sessions import Session, SessionStore
from openmaas.api.limits import BodySizeLimit
from openmaas.api.metering import Metrics
from openmaas.api.openai import deployments as deployments_router
from openmaas.api.openai import router as openai_router
from openmaas.api.portal import router as portal_router
from openmaas.api.portal.shape import choose_error_renderer as portal_error_renderer
from openmaas.api.request_log import log_request
from openmaas.control.deployments import Deployments, load_deployments
from openmaas.engine import EngineConfig
from openmaas.fleet.fleet import ModelFleet
from openmaas.fleet.sources import ModelSource, bundled_model, local_model
from openmaas.settings import Settings


def resolve_model_source(settings: Settings) -> ModelSource:
    """The model to serve; it answers to the Hugging Face repo its GGUF names and to OPENMAAS_MODEL_ALIASES."""
    if settings.model:
        source = local_model(settings.model, settings.model_id)
    else:
        bundled = bundled_model(settings.home)
        source = ModelSource(settings.model_id or bundled.model_id, bundled.path, bundled.aliases)
    return source.with_aliases(settings.model_aliases)


def engine_config(settings: Settings, source: ModelSource) -> EngineConfig:
    return EngineConfig(
        model_path=str(source.path),
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        max_model_len=settings.max_model_len,
        num_cache_slots=settings.num_cache_slots,
        prefill_chunk_size=settings.prefill_chunk_size,
        num_threads=settings.num_threads,
        max_queued_requests=settings.max_queued_requests,
        max_queued_prompt_tokens=settings.max_queued_prompt_tokens,
    )


def generation_defaults(settings: Settings) -> GenerationDefaults:
    return GenerationDefaults(
        num_beams=settings.generate_num_beams,
        do_sample=settings.generate_do_sample,
        temperature=settings.generate_temperature,
        top_p=settings.generate_top_p,
        top_k=settings.generate_top_k,
        max_new_tokens=settings.generate_max_new_tokens,
        repetition_penalty=settings.generate_repetition_penalty,
        length_penalty=settings.generate_length_penalty,
    )


def _session_store(settings: Settings, fleet: ModelFleet) -> SessionStore:
    def forget(session: Session) -> None:
        """Frees the KV the session's engine kept for it (if the model is still loaded)."""
        for served in fleet.list():
            if served.source.model_id == session.model_id:
                for item in session.items:
                    served.engine.drop_session(item.engine_session_id)

    return SessionStore(settings.generate_max_sessions, settings.generate_session_ttl, forget)


def create_app(settings: Settings) -> FastAPI:
    fleet = ModelFleet()
    drain = Drain(fleet, settings.drain_timeout)
    # Read now so that a bad file stops the server before the model loads.
    deployments = load_deployments(settings.deployments_file) if settings.deployments_file else Deployments()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        source = resolve_model_source(settings)
        fleet.load(
            source,
            engine_config(settings, source),
            created=int(time.time()),
            debug_checks=settings.engine_debug_checks,
        )
        drain.attach(asyncio.get_running_loop())
        try:
            deployments_router.check_deployments(deployments, fleet)
            yield
        finally:
            fleet.close()

    app = FastAPI(title="openmaas", version=__version__, lifespan=lifespan)
    app.state.drain = drain
    # Checks /ready runs besides draining and engine health (None: fine, else the problem).
    app.state.readiness_checks = []
    app.state.settings = settings
    app.state.fleet = fleet
    app.state.deployments = deployments
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.state.api_key_verifier = ApiKeyVerifier(api_key)
    metrics = Metrics(lambda: {served.source.model_id: served.engine.stats() for served in fleet.list()})
    metrics.add_listener(log_request)
    app.state.metrics = metrics
    app.state.completions_serving = CompletionsServing(fleet, metrics)
    app.state.generate_serving = GenerateServing(
        fleet, metrics, generation_defaults(settings), _session_store(settings, fleet)
    )
    renderers = ErrorRenderers()
    renderers.register_chooser(f"{portal_router.PREFIX}/", portal_error_renderer)
    renderers.register(generate_router.PREFIX, generate_router.generate_error_body)
    install_error_handlers(app, renderers)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, render=partial(error_response, renderers))
    # Outermost, so every answer (a 413 included) carries its X-Request-Id.
    app.add_middleware(RequestContextMiddleware)
    # Every inference route needs the API key when one is set; /health, /metrics and status stay open.
    auth = [RequireApiKey]
    app.include_router(health.router)
    app.include_router(openai_router.router, dependencies=auth)
    app.include_router(openai_router.tokenizer_router, dependencies=auth)
    app.include_router(portal_router.router, dependencies=auth)
    app.include_router(generate_router.router, dependencies=auth)
    app.include_router(status.router)
    app.include_router(metrics_router.router)
    # Last: /{deployment}/v1/... must not shadow a fixed route.
    app.include_router(deployments_router.router, dependencies=auth)
    return app
