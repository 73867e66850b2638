"""Ingress: today's FastAPI app (every dialect, auth, metering, console) as a replicated Serve deployment."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray.serve.handle import DeploymentHandle

from openmaas.app import create_app
from openmaas.cluster.limits import LimitsClient
from openmaas.cluster.remote_engine import RemoteEngineClient
from openmaas.engine import EngineClient, EngineConfig
from openmaas.errors import ModelLoadFailed
from openmaas.fleet.sources import ModelSource
from openmaas.settings import Settings


class Ingress:
    """One ingress replica: builds the app (``__serve_build_asgi_app__``, called by Serve after __init__)
    whose fleet's engines are the models' deployments and whose limits are the Limits deployment's."""

    def __init__(
        self, settings: Settings, models: dict[str, DeploymentHandle[Any]], limits: DeploymentHandle[Any]
    ) -> None:
        self._settings = settings
        self._models = models
        self._limits = limits

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._settings, engine_factory=self._engine, shared_quotas=LimitsClient(self._limits))

    def _engine(self, source: ModelSource, config: EngineConfig) -> EngineClient:
        handle = self._models.get(source.model_id)
        if handle is None:
            raise ModelLoadFailed(
                f"The model '{source.model_id}' has no deployment in the cluster: it was added after "
                "`openmaas serve --ray` started; restart it to deploy the model"
            )
        return RemoteEngineClient(
            source.model_id,
            config,
            handle,
            cold_start_timeout=self._settings.ray_cold_start_timeout,
            check_invariants=self._settings.engine_debug_checks,
        )
