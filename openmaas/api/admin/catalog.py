"""Admin routes of the model catalog and the deployments: /api/admin/models and /api/admin/deployments.

Every change is written to the catalog, then the fleet and the served deployments
are refreshed from it, so a model added here answers at once (it loads on its
first request) and one removed is unloaded when its running requests end.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import CatalogSyncDep, FleetDep
from openmaas.control.catalog import CatalogModel, updated_deployment
from openmaas.control.db import MAX_BIG_INTEGER, MAX_INTEGER
from openmaas.control.deployments import Deployment, DeploymentsFileError, GenerationDefaults, parse_defaults
from openmaas.control.keep_alive import format_keep_alive, parse_keep_alive
from openmaas.errors import InvalidRequest, ModelNotFound
from openmaas.fleet.fleet import ModelEntry, ModelFleet
from openmaas.fleet.model_facts import model_facts
from openmaas.fleet.sources import catalog_source

router = APIRouter(prefix="/api/admin", tags=["admin"])


class ModelCreate(BaseModel):
    """A catalog entry to add. source_kind: "local" (source: a GGUF path), "huggingface" (source: the
    repository, file: the GGUF in it) or "bundled"."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    source_kind: str = "local"
    source: str = ""
    file: str | None = None
    display_name: str = ""
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    context_length: int | None = Field(None, ge=16, le=MAX_INTEGER)
    parameter_count: int | None = Field(None, ge=0, le=MAX_BIG_INTEGER)
    quantization: str | None = None
    license: str | None = None
    tags: list[str] = Field(default_factory=list)
    input_price_per_million: float = Field(0.0, ge=0, allow_inf_nan=False)
    output_price_per_million: float = Field(0.0, ge=0, allow_inf_nan=False)
    defaults: dict[str, Any] = Field(default_factory=dict)
    keep_alive: float | str | None = None


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str
    defaults: dict[str, Any] = Field(default_factory=dict)
    keep_alive: float | str | None = None


class DeploymentUpdate(BaseModel):
    """Fields to change; defaults are merged key by key into the current ones."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    defaults: dict[str, Any] | None = None
    keep_alive: float | str | None = None


def _defaults(where: str, table: dict[str, Any]) -> GenerationDefaults:
    try:
        return parse_defaults(where, table)
    except DeploymentsFileError as exc:
        raise InvalidRequest(str(exc), param="defaults") from None


def model_public(entry: ModelEntry | None, model: CatalogModel | None) -> dict[str, Any]:
    """A catalog entry (None for the server's own model) with its state in the fleet."""
    body: dict[str, Any] = model.as_dict() if model is not None else {"id": entry.model_id if entry else None}
    body["in_catalog"] = model is not None
    if entry is not None:
        body["aliases"] = list(entry.source.aliases)
        body["path"] = str(entry.source.path)
        body["state"] = entry.state.value
        body["memory_bytes"] = entry.memory_bytes
        body["num_active_requests"] = entry.num_active
        body["num_loads"] = entry.num_loads
        body["keep_alive"] = format_keep_alive(entry.keep_alive)
        body["capabilities"] = list(model_facts(entry.source.path).capabilities)
    else:
        body["state"] = "unavailable"  # its source could not be resolved (the server log says why)
    return body


def _models(fleet: ModelFleet, catalog: list[CatalogModel]) -> list[dict[str, Any]]:
    by_id = {m.id: m for m in catalog}
    entries = {e.model_id: e for e in fleet.entries()}
    rows = [model_public(entry, by_id.get(model_id)) for model_id, entry in entries.items()]
    rows += [model_public(None, m) for m in catalog if m.id not in entries]
    return rows


@router.get("/models")
async def list_models(sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    data = _models(fleet, await asyncio.to_thread(sync.catalog.list_models))
    return {"data": data, "count": len(data)}


@router.post("/models", status_code=201)
async def add_model(body: ModelCreate, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    values = body.model_dump()
    values["keep_alive"] = parse_keep_alive(body.keep_alive)
    values["aliases"] = tuple(body.aliases)
    values["tags"] = tuple(body.tags)
    _defaults(f"models.{body.id}.defaults", body.defaults)
    model = CatalogModel(**values)
    for name in (model.id, *model.aliases):
        try:
            fleet.entry(name)
        except ModelNotFound:
            continue
        raise InvalidRequest(f"the name '{name}' is already served", param="id")
    # Resolved (downloaded) before it is stored, so a bad source is a 400, not a broken entry.
    await asyncio.to_thread(catalog_source, model, sync.home)
    stored = await asyncio.to_thread(sync.catalog.add_model, model)
    await sync.refresh()
    return model_public(_entry(fleet, stored.id), stored)


def _entry(fleet: ModelFleet, model_id: str) -> ModelEntry | None:
    try:
        return fleet.entry(model_id)
    except ModelNotFound:
        return None


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    entry = _entry(fleet, model_id)
    real_id = entry.model_id if entry else model_id
    try:
        model: CatalogModel | None = await asyncio.to_thread(sync.catalog.get_model, real_id)
    except ModelNotFound:
        if entry is None:
            raise
        model = None
    return model_public(entry, model)


@router.delete("/models/{model_id:path}", status_code=204)
async def remove_model(model_id: str, sync: CatalogSyncDep) -> Response:
    await asyncio.to_thread(sync.catalog.remove_model, model_id)
    await sync.refresh()
    return Response(status_code=204)


def deployment_public(deployment: Deployment) -> dict[str, Any]:
    return {
        "name": deployment.name,
        "model": deployment.model,
        "defaults": dataclasses.asdict(deployment.defaults),
        "keep_alive": None if deployment.keep_alive is None else format_keep_alive(deployment.keep_alive),
    }


@router.get("/deployments")
async def list_deployments(sync: CatalogSyncDep) -> dict[str, Any]:
    data = [deployment_public(d) for d in await asyncio.to_thread(sync.catalog.list_deployments)]
    return {"data": data, "count": len(data)}


@router.post("/deployments", status_code=201)
async def create_deployment(body: DeploymentCreate, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    fleet.entry(body.model)  # 404 for a model not served
    deployment = Deployment(
        body.name,
        body.model,
        _defaults(f"deployments.{body.name}.defaults", body.defaults),
        parse_keep_alive(body.keep_alive),
    )
    stored = await asyncio.to_thread(sync.catalog.put_deployment, deployment, create=True)
    await sync.refresh()
    return deployment_public(stored)


@router.get("/deployments/{name}")
async def get_deployment(name: str, sync: CatalogSyncDep) -> dict[str, Any]:
    return deployment_public(await asyncio.to_thread(sync.catalog.get_deployment, name))


@router.patch("/deployments/{name}")
async def update_deployment(name: str, body: DeploymentUpdate, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    current = await asyncio.to_thread(sync.catalog.get_deployment, name)
    changes: dict[str, Any] = {}
    if body.model is not None:
        fleet.entry(body.model)
        changes["model"] = body.model
    if "keep_alive" in body.model_fields_set:
        changes["keep_alive"] = parse_keep_alive(body.keep_alive)
    if body.defaults is not None:
        changes["defaults"] = body.defaults
    try:
        updated = updated_deployment(current, changes)
    except DeploymentsFileError as exc:
        raise InvalidRequest(str(exc), param="defaults") from None
    stored = await asyncio.to_thread(sync.catalog.put_deployment, updated, create=False)
    await sync.refresh()
    return deployment_public(stored)


@router.delete("/deployments/{name}", status_code=204)
async def delete_deployment(name: str, sync: CatalogSyncDep) -> Response:
    await asyncio.to_thread(sync.catalog.delete_deployment, name)
    await sync.refresh()
    return Response(status_code=204)
