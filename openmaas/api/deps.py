"""FastAPI dependencies, as named aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openmaas.api.completions.serving import CompletionsServing
from openmaas.api.embeddings.serving import EmbeddingsServing
from openmaas.control.plane import ControlPlane
from openmaas.fleet.catalog_sync import CatalogSync
from openmaas.fleet.fleet import ModelFleet


def get_fleet(request: Request) -> ModelFleet:
    fleet: ModelFleet = request.app.state.fleet
    return fleet


FleetDep = Annotated[ModelFleet, Depends(get_fleet)]


def get_completions_serving(request: Request) -> CompletionsServing:
    serving: CompletionsServing = request.app.state.completions_serving
    return serving


# Every dialect built on OpenAI's shapes (OpenAI, deployments, portal) serves through this one object.
CompletionsServingDep = Annotated[CompletionsServing, Depends(get_completions_serving)]


def get_embeddings_serving(request: Request) -> EmbeddingsServing:
    serving: EmbeddingsServing = request.app.state.embeddings_serving
    return serving


# /v1/embeddings and a deployment's.
EmbeddingsServingDep = Annotated[EmbeddingsServing, Depends(get_embeddings_serving)]


def get_control_plane(request: Request) -> ControlPlane:
    plane: ControlPlane = request.app.state.control_plane
    return plane


# The database's stores: keys, usage, catalog, conversations.
ControlPlaneDep = Annotated[ControlPlane, Depends(get_control_plane)]


def get_catalog_sync(request: Request) -> CatalogSync:
    sync: CatalogSync = request.app.state.catalog_sync
    return sync


CatalogSyncDep = Annotated[CatalogSync, Depends(get_catalog_sync)]
