"""ModelFleet: the models this server serves and their running engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openmaas.engine import EngineClient, EngineConfig
from openmaas.errors import ModelNotFound
from openmaas.fleet.sources import ModelSource

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ServedModel:
    source: ModelSource
    engine: EngineClient
    created: int


class ModelFleet:
    """Maps model ids, and their aliases, to loaded engines."""

    def __init__(self) -> None:
        self._models: dict[str, ServedModel] = {}
        # alias -> model id; an alias never equals a model id.
        self._aliases: dict[str, str] = {}

    def load(self, source: ModelSource, config: EngineConfig, *, created: int, debug_checks: bool = False) -> None:
        taken = [name for name in source.names if name in self._models or name in self._aliases]
        if taken:
            raise ValueError(f"model names already served: {', '.join(taken)}")
        logger.info("loading model %s from %s (aliases: %s)", source.model_id, source.path, list(source.aliases))
        engine = EngineClient(config, check_invariants=debug_checks)
        self._models[source.model_id] = ServedModel(source, engine, created)
        self._aliases.update(dict.fromkeys(source.aliases, source.model_id))

    def get(self, model_id: str) -> ServedModel:
        """The model with this id or alias; ModelNotFound (404) otherwise."""
        served = self._models.get(self._aliases.get(model_id, model_id))
        if served is None:
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
        return served

    def list(self) -> list[ServedModel]:
        return list(self._models.values())

    def close(self) -> None:
        for served in self._models.values():
            served.engine.close()
        self._models.clear()
        self._aliases.clear()
