"""CatalogSync: keeps the fleet's registered models and the served deployments equal to the catalog.

The admin API refreshes at once after a change; a periodic refresh picks up what
the CLI (or another server on the same database) wrote, so no restart is needed
to add or remove a model. The model the server was started with
(``OPENMAAS_MODEL`` or the bundled one) is not in the catalog and is never removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from openmaas.control.catalog import Catalog, CatalogModel
from openmaas.control.deployments import Deployment, Deployments, request_defaults
from openmaas.engine import EngineConfig
from openmaas.errors import OpenmaasError
from openmaas.fleet.fleet import ModelFleet
from openmaas.fleet.sources import catalog_source

logger = logging.getLogger(__name__)


def catalog_engine_config(base: EngineConfig, model: CatalogModel, path: Path) -> EngineConfig:
    """The server's engine settings for the model's file, its context capped by the catalog's."""
    max_model_len = base.max_model_len
    if model.context_length:
        max_model_len = max(16, min(max_model_len, model.context_length))
    return dataclasses.replace(base, model_path=str(path), max_model_len=max_model_len)


class CatalogSync:
    """Registers catalog models in the fleet and serves the catalog's deployments."""

    def __init__(
        self, catalog: Catalog, fleet: ModelFleet, deployments: Deployments, base_config: EngineConfig, home: Path
    ) -> None:
        self.catalog = catalog
        self._fleet = fleet
        self._deployments = deployments
        self._base_config = base_config
        self.home = home
        # Catalog model id -> the entry it was registered from (to see changes).
        self._registered: dict[str, CatalogModel] = {}
        # Catalog model id -> the request fields its defaults set (read per request).
        self._request_defaults: dict[str, dict[str, Any]] = {}
        self._builtin_defaults: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    def seed_deployments(self, seeds: list[Deployment]) -> None:
        """The deployments file, written over the catalog's rows of the same names (the file wins at start)."""
        for deployment in seeds:
            self.catalog.put_deployment(deployment)

    async def refresh(self) -> None:
        async with self._lock:
            models = await asyncio.to_thread(self.catalog.list_models)
            wanted = {m.id: m for m in models}
            for model_id in [m for m in self._registered if wanted.get(m) != self._registered[m]]:
                self._fleet.unregister(model_id)
                del self._registered[model_id]
                self._request_defaults.pop(model_id, None)
            for model in models:
                if model.id not in self._registered:
                    await self._register(model)
            self._deployments.replace_all(await asyncio.to_thread(self.catalog.list_deployments))

    def price(self, model_id: str) -> tuple[float, float]:
        """(input, output) price per million tokens of a served catalog model; (0, 0) otherwise.
        Read from memory: usage metering calls it on the event loop for every request."""
        model = self._registered.get(model_id)
        if model is None:
            return (0.0, 0.0)
        return (model.input_price_per_million, model.output_price_per_million)

    def request_defaults(self, model_id: str) -> dict[str, Any]:
        """The request fields a served catalog model's defaults set (or the server's own model's,
        set_builtin_defaults); {} for any other model. Read from memory, like price: every chat
        and completion asks."""
        return self._request_defaults.get(model_id) or self._builtin_defaults.get(model_id, {})

    def set_builtin_defaults(self, model_id: str, defaults: dict[str, Any]) -> None:
        """The default settings of the server's own model, which is not a catalog row."""
        self._builtin_defaults[model_id] = request_defaults(f"models.{model_id}.defaults", defaults)

    async def _register(self, model: CatalogModel) -> None:
        try:
            source = await asyncio.to_thread(catalog_source, model, self.home)
            config = catalog_engine_config(self._base_config, model, source.path)
            defaults = request_defaults(f"models.{model.id}.defaults", dict(model.defaults))
            created = int(model.created_at.timestamp()) if model.created_at else int(time.time())
            self._fleet.register(source, config, created=created, keep_alive=model.keep_alive)
        except (OpenmaasError, ValueError, OSError) as exc:  # a bad defaults table is a ValueError too
            message = exc.message if isinstance(exc, OpenmaasError) else str(exc)
            logger.warning("catalog model %s is not served: %s", model.id, message)
            return
        self._registered[model.id] = model
        self._request_defaults[model.id] = defaults

    async def run(self, interval: float) -> None:
        """Refreshes every interval seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception:
                logger.exception("refreshing the catalog failed")

    @staticmethod
    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
