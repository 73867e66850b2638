"""create_app(settings): composes the fleet, the dialects and the error handlers."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from openmaas import __version__
from openmaas.api import health, status
from openmaas.api import metrics_route as metrics_router
from openmaas.api.admin import catalog as catalog_router
from openmaas.api.admin import router as admin_router
from openmaas.api.auth import Authenticator, RequireAdminKey, RequireApiKey
from openmaas.api.completions.serving import CompletionsServing
from openmaas.api.console import conversations as console_conversations_router
from openmaas.api.console import models as console_models_router
from openmaas.api.console import parameters as console_parameters_router
from openmaas.api.console import usage as console_usage_router
from openmaas.api.context import RequestContextMiddleware
from openmaas.api.cors import ApiCors
from openmaas.api.drain import Drain
from openmaas.api.embeddings.serving import EmbeddingsServing
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
from openmaas.api.security_headers import SecurityHeaders
from openmaas.api.usage_recorder import PriceFn, UsageRecorder, no_price
from openmaas.control.deployments import Deployments, load_deployments
from openmaas.control.keep_alive import parse_keep_alive
from openmaas.control.plane import ControlPlane
from openmaas.control.quotas import SharedQuotas
from openmaas.engine import EngineConfig
from openmaas.errors import OpenmaasError
from openmaas.fleet.builtin_model import builtin_model
from openmaas.fleet.catalog_sync import CatalogSync
from openmaas.fleet.fleet import EngineFactory, ModelFleet
from openmaas.fleet.sources import ModelSource, bundled_model, local_model
from openmaas.settings import Settings
from openmaas.web.routes import is_console_page, mount_console


def resolve_model_source(settings: Settings) -> ModelSource:
    """The model to serve; it answers to the Hugging Face repo its GGUF names and to OPENMAAS_MODEL_ALIASES."""
    if settings.model:
        source = local_model(settings.model, settings.model_id)
    else:
        bundled = bundled_model(settings.home)
        source = ModelSource(settings.model_id or bundled.model_id, bundled.path, bundled.aliases)
    return source.with_aliases(settings.model_aliases)


def engine_config(settings: Settings, source: ModelSource | None) -> EngineConfig:
    """The engine settings for source's file (None: no file yet, a base for catalog models)."""
    return EngineConfig(
        model_path=str(source.path) if source else "",
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        max_model_len=settings.max_model_len,
        num_cache_slots=settings.num_cache_slots,
        prefill_chunk_size=settings.prefill_chunk_size,
        kv_cache_type=settings.kv_cache_type,
        swa_full=settings.swa_full,
        num_threads=settings.num_threads,
        max_queued_requests=settings.max_queued_requests,
        max_queued_prompt_tokens=settings.max_queued_prompt_tokens,
        max_requests_per_call=settings.max_requests_per_call,
        max_queue_wait=settings.max_queue_wait,
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


def start_control_plane(control: ControlPlane, settings: Settings) -> None:
    """Migrates the database; on a first start with no key at all, creates an admin key and shows it once."""
    control.start()
    if settings.api_key is None and not settings.auth_disabled:
        secret = control.create_first_admin_key()
        if secret is not None:
            # On stderr, not in the log: the secret is shown this once and must not reach log storage.
            sys.stderr.write(FIRST_KEY_BANNER.format(secret=secret))
            sys.stderr.flush()


FIRST_KEY_BANNER = """
================================================================================
 openmaas: no API key existed, so this admin key was created. It is shown ONCE:

     {secret}

 Send it as 'Authorization: Bearer <key>'. Create inference keys with
 'openmaas keys create' or POST /api/admin/keys.
================================================================================
"""


async def _database_reachable(control: ControlPlane) -> str | None:
    try:
        await asyncio.to_thread(control.ping)
    except Exception as exc:  # any failure means "not ready"; the reason goes to the probe's answer
        return f"the database is unreachable ({type(exc).__name__})"
    return None


async def _model_loadable(fleet: ModelFleet, default_model: list[str]) -> str | None:
    """The server's own model is registered and its file is there (it loads on demand)."""
    if not default_model:
        return "the default model is not registered yet"
    try:
        entry = fleet.entry(default_model[0])
    except OpenmaasError:
        return f"the default model {default_model[0]} is not registered"
    if not entry.source.path.is_file():
        return f"the default model's file {entry.source.path} is missing"
    return None


def create_app(
    settings: Settings,
    price: PriceFn = no_price,
    *,
    engine_factory: EngineFactory | None = None,
    shared_quotas: SharedQuotas | None = None,
) -> FastAPI:
    """The server. Cluster mode (openmaas/cluster/) passes engine_factory (engines that are Ray Serve
    deployments) and shared_quotas (limits counted once for every ingress replica)."""
    fleet = ModelFleet(
        max_loaded_models=settings.max_loaded_models,
        max_loaded_bytes=settings.max_loaded_bytes,
        default_keep_alive=parse_keep_alive(settings.keep_alive, param="OPENMAAS_KEEP_ALIVE") or 0.0,
        debug_checks=settings.engine_debug_checks,
        engine_factory=engine_factory,
    )
    # The usage journal lives in the home: local to this machine, as a crash it covers is.
    control = ControlPlane(
        settings.resolved_database_url,
        journal_dir=settings.home / "usage-journal",
        journal_sync=settings.usage_journal_sync,
    )
    drain = Drain(fleet, settings.drain_timeout)
    # Read now so that a bad file stops the server before the model loads.
    deployments = load_deployments(settings.deployments_file) if settings.deployments_file else Deployments()
    seeds = Deployments(deployments.list())
    default_model: list[str] = []  # its id, once registered (for /ready)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_control_plane(control, settings)
        source = resolve_model_source(settings)
        fleet.register(source, engine_config(settings, source), created=int(time.time()))
        own = builtin_model(settings.model, settings.model_id, settings.home)
        catalog_sync.set_builtin_defaults(source.model_id, own.defaults)
        default_model.append(source.model_id)
        refreshing: asyncio.Task[None] | None = None
        try:
            await catalog_sync.refresh()
            # The default model is loaded at start, so the first request is fast and /health reports it.
            await fleet.preload(source.model_id)
            # The file's deployments are checked strictly; the catalog's answer 404 for a model not served.
            deployments_router.check_deployments(seeds, fleet)
            catalog_sync.seed_deployments(seeds.list())
            await catalog_sync.refresh()
            refreshing = asyncio.create_task(catalog_sync.run(settings.catalog_refresh_interval))
            drain.attach(asyncio.get_running_loop())
            yield
        finally:
            if refreshing is not None:
                await CatalogSync.stop(refreshing)
            await fleet.aclose()
            # After the fleet: calls cut off by the shutdown are recorded too, then every row is written.
            control.close()

    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, which fails on closed networks and
    # would run third-party code on the origin where the console keeps its API key. /openapi.json stays.
    app = FastAPI(title="openmaas", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.drain = drain
    # Checks /ready runs besides draining and engine health (None: fine, else the problem).
    app.state.readiness_checks = [partial(_database_reachable, control), partial(_model_loadable, fleet, default_model)]
    app.state.settings = settings
    app.state.fleet = fleet
    app.state.deployments = deployments
    app.state.control_plane = control
    # The deployments file is a seed: written into the catalog at start, then served from it.
    catalog_sync = CatalogSync(control.catalog, fleet, deployments, engine_config(settings, None), settings.home)
    app.state.catalog_sync = catalog_sync
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    authenticator = Authenticator(
        control.keys,
        control.usage,
        bootstrap_key=api_key,
        is_disabled=settings.auth_disabled,
        shared_quotas=shared_quotas,
    )
    app.state.authenticator = authenticator
    metrics = Metrics(lambda: {served.source.model_id: served.engine.stats() for served in fleet.list()})
    metrics.add_listener(log_request)
    fleet.add_load_listener(metrics.record_model_load)
    # Prices come from the catalog unless the caller passes its own.
    price = catalog_sync.price if price is no_price else price
    metrics.ledger = UsageRecorder(lambda entry: control.writer.submit(entry), authenticator, price, control.journal)
    app.state.metrics = metrics
    app.state.completions_serving = CompletionsServing(fleet, metrics, catalog_sync.request_defaults)
    app.state.embeddings_serving = EmbeddingsServing(fleet, metrics)
    app.state.generate_serving = GenerateServing(
        fleet, metrics, generation_defaults(settings), _session_store(settings, fleet)
    )
    renderers = ErrorRenderers()
    renderers.register_chooser(f"{portal_router.PREFIX}/", portal_error_renderer)
    renderers.register(generate_router.PREFIX, generate_router.generate_error_body)
    install_error_handlers(app, renderers)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, render=partial(error_response, renderers))
    # Outermost, so every answer (a 413 included) carries its X-Request-Id.
    app.add_middleware(RequestContextMiddleware, default_timeout=settings.request_timeout)
    if settings.cors_origins:
        # Outside everything else, so preflights are answered before auth and every answer carries the headers.
        app.add_middleware(ApiCors, origins=settings.cors_origins, is_excluded=is_console_page)
    # Outside everything, so static files, errors and the middlewares' own answers all carry them.
    app.add_middleware(SecurityHeaders)
    # Every inference route needs an API key, and /api/admin/* an admin key; /health and /metrics stay open.
    auth = [RequireApiKey]
    admin = [RequireAdminKey]
    app.include_router(health.router)
    app.include_router(openai_router.router, dependencies=auth)
    app.include_router(openai_router.tokenizer_router, dependencies=auth)
    app.include_router(portal_router.router, dependencies=auth)
    app.include_router(generate_router.router, dependencies=auth)
    app.include_router(status.router, dependencies=admin)
    app.include_router(admin_router.router, dependencies=admin)
    app.include_router(catalog_router.router, dependencies=admin)
    app.include_router(metrics_router.router)
    # The console's data: any usable key, each route scoping what it returns to that key.
    app.include_router(console_models_router.router)
    app.include_router(console_parameters_router.router)
    app.include_router(console_conversations_router.router)
    app.include_router(console_usage_router.router)
    # The console's pages and /static, after the API so that no page shadows a route.
    mount_console(app)
    # Last: /{deployment}/v1/... must not shadow a fixed route.
    app.include_router(deployments_router.router, dependencies=auth)
    return app
