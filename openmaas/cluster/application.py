"""The Serve application of cluster mode: an ingress, the shared limits, one deployment per model."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from ray import serve
from ray.serve import Application

from openmaas.app import engine_config, resolve_model_source, start_control_plane
from openmaas.cluster.ingress import Ingress
from openmaas.cluster.limits import Limits
from openmaas.cluster.options import (
    INGRESS_DEPLOYMENT,
    LIMITS_DEPLOYMENT,
    ModelDeploymentOptions,
    deployment_name,
)
from openmaas.cluster.replica import ModelReplica
from openmaas.control.plane import ControlPlane
from openmaas.engine import EngineConfig
from openmaas.errors import OpenmaasError
from openmaas.fleet.catalog_sync import catalog_engine_config
from openmaas.fleet.sources import catalog_source
from openmaas.settings import Settings

logger = logging.getLogger(__name__)

# HTTP requests one ingress replica takes at once (Serve's default, 5, would queue them in the proxy);
# the models' queues are what bound the work.
INGRESS_MAX_ONGOING_REQUESTS = 1000


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """A model to deploy: its engine's config and its deployment's options."""

    model_id: str
    config: EngineConfig
    options: ModelDeploymentOptions


def plan_models(settings: Settings) -> list[ModelPlan]:
    """The server's own model and every catalog model whose file resolves (the others are logged,
    as the single-process server does). Migrates the database first (and makes the first admin key)."""
    control = ControlPlane(settings.resolved_database_url, journal_dir=settings.home / "usage-journal")
    try:
        start_control_plane(control, settings)
        catalog = control.catalog.list_models()
    finally:
        control.close()
    own = resolve_model_source(settings)
    base = engine_config(settings, None)
    configs = [(own.model_id, engine_config(settings, own))]
    for model in catalog:
        try:
            source = catalog_source(model, settings.home)
        except (OpenmaasError, OSError, ValueError) as exc:
            logger.warning("catalog model %s is not deployed: %s", model.id, exc)
            continue
        configs.append((model.id, catalog_engine_config(base, model, source.path)))
    plans = []
    for model_id, config in configs:
        options = ModelDeploymentOptions.for_model(settings, model_id, config.max_num_seqs)
        # A replica's llama.cpp threads are the CPUs it reserves, unless set.
        threads = settings.num_threads or options.num_threads
        plans.append(ModelPlan(model_id, dataclasses.replace(config, num_threads=threads), options))
    return plans


def build_application(settings: Settings, plans: list[ModelPlan]) -> Application:
    models = {}
    for plan in plans:
        deployment = serve.deployment(
            name=deployment_name(plan.model_id),
            autoscaling_config=plan.options.autoscaling_config(settings.ray_downscale_delay),
            ray_actor_options=plan.options.ray_actor_options(),
            max_ongoing_requests=plan.options.max_ongoing_requests,
            max_queued_requests=settings.max_queued_requests,
            graceful_shutdown_timeout_s=settings.drain_timeout,
        )(ModelReplica)
        models[plan.model_id] = deployment.bind(plan.config, settings.engine_debug_checks)
    limits = serve.deployment(name=LIMITS_DEPLOYMENT, num_replicas=1, ray_actor_options={"num_cpus": 0})(Limits)
    ingress = serve.deployment(
        name=INGRESS_DEPLOYMENT,
        num_replicas=settings.ray_ingress_replicas,
        ray_actor_options={"num_cpus": settings.ray_ingress_num_cpus},
        max_ongoing_requests=INGRESS_MAX_ONGOING_REQUESTS,
        graceful_shutdown_timeout_s=settings.drain_timeout,
    )(serve.ingress()(Ingress))
    application: Application = ingress.bind(settings, models, limits.bind())
    return application
