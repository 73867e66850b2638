"""/api/console/me and /api/console/models: the signed-in key, and the models it may use as catalog cards.

A card joins three sources: the fleet (the served context, warm or cold, memory),
the catalog row (display name, tags, prices, defaults; absent for the server's own
model) and the GGUF header (name, size, quantization, license) for what the
catalog leaves empty.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from openmaas.api.auth import KeyDep
from openmaas.api.context import current_request
from openmaas.api.deps import CatalogSyncDep, FleetDep
from openmaas.control.catalog import CatalogModel
from openmaas.errors import ModelNotFound
from openmaas.fleet.fleet import ModelEntry, ModelState
from openmaas.fleet.model_facts import model_facts

router = APIRouter(prefix="/api/console", tags=["console"])


@router.get("/me")
async def me(caller: KeyDep) -> dict[str, Any]:
    """Who the browser's key is; the console shows admin pages only to admin keys."""
    if caller is None:
        return {"key_id": None, "key_prefix": None, "is_admin": True, "auth_disabled": True}
    return {
        "key_id": caller.key_id,
        "key_prefix": caller.key_prefix,
        "is_admin": caller.is_admin,
        "auth_disabled": False,
    }


def size_label(parameter_count: int | None) -> str | None:
    """1_234_000_000 -> "1.2B", 270_000_000 -> "270M"."""
    if parameter_count is None:
        return None
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if parameter_count >= scale:
            return f"{parameter_count / scale:.3g}{unit}"
    return str(parameter_count)


# A catalog tag that names the model's kind wins over what its file says.
KIND_TAGS = {"base": "base", "chat": "chat", "instruct": "chat", "embeddings": "embeddings", "embedding": "embeddings"}


def model_kind(tags: tuple[str, ...] | list[str], file_kind: str) -> str:
    """base (raw completions), chat or embeddings: from the catalog's tags, else from the GGUF file."""
    for tag in tags:
        if tag.lower() in KIND_TAGS:
            return KIND_TAGS[tag.lower()]
    return file_kind


def model_card(entry: ModelEntry, model: CatalogModel | None) -> dict[str, Any]:
    facts = model_facts(entry.source.path)
    catalog = model or CatalogModel(id=entry.model_id, source_kind="server")
    return {
        "id": entry.model_id,
        "object": "model_card",
        "display_name": catalog.display_name or facts.name or entry.model_id,
        "description": catalog.description,
        "aliases": list(entry.source.aliases),
        "architecture": facts.architecture,
        "parameter_count": catalog.parameter_count,
        "size_label": size_label(catalog.parameter_count) or facts.size_label,
        # What a request may use (prompt + output) on this server, and what the model was trained for.
        "context_length": entry.config.max_model_len,
        "trained_context_length": catalog.context_length or facts.trained_context_length,
        "quantization": catalog.quantization or facts.quantization,
        "license": catalog.license or facts.license,
        # The endpoints it serves: "chat", "completions", "embeddings".
        "capabilities": list(facts.capabilities),
        "tags": list(catalog.tags),
        "kind": model_kind(catalog.tags, facts.kind),
        "input_price_per_million": catalog.input_price_per_million,
        "output_price_per_million": catalog.output_price_per_million,
        "defaults": dict(catalog.defaults),
        "source_kind": catalog.source_kind,
        # Warm: loaded now, the first token comes at once; cold: the first request loads it.
        "state": entry.state.value,
        "warm": entry.state is ModelState.LOADED,
        "file_bytes": facts.file_bytes,
        "memory_bytes": entry.memory_bytes,
    }


async def _cards(sync: CatalogSyncDep, fleet: FleetDep) -> list[dict[str, Any]]:
    """The cards of the models the key may call (by the rule every inference route applies)."""
    by_id = {model.id: model for model in await asyncio.to_thread(sync.catalog.list_models)}
    context = current_request()
    entries = [entry for entry in fleet.entries() if not entry.is_removed and context.may_use(entry.source.names)]
    # Reading a header is a few small reads, cached per file: cheap enough off the loop.
    return await asyncio.to_thread(lambda: [model_card(entry, by_id.get(entry.model_id)) for entry in entries])


@router.get("/models")
async def list_models(_caller: KeyDep, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    cards = await _cards(sync, fleet)
    return {"object": "list", "data": cards, "count": len(cards)}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, _caller: KeyDep, sync: CatalogSyncDep, fleet: FleetDep) -> dict[str, Any]:
    """A model by id or alias; 404 for one the key may not use (as if it were not there)."""
    for card in await _cards(sync, fleet):
        if model_id == card["id"] or model_id in card["aliases"]:
            return card
    raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
